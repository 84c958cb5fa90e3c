import { type Embedder, l2Normalize } from './embedder.ts';

/**
 * A deterministic embedder with no network and no model files: the "hashing trick" over words
 * (crudely stemmed), word bigrams and character trigrams of each word, folded into `dimensions`
 * buckets with a sign hash, then L2-normalised. Similar vectors mean shared words and spellings
 * ("election" ~ "elections" through their trigrams), not shared meaning: "vote" and "ballot" are
 * unrelated to it. Good enough to exercise the whole pipeline and to rank lexical near-misses.
 */
export function createLocalEmbedder(dimensions: number): Embedder {
  return {
    model: `local-hash-ngram-v1-${dimensions}`,
    dimensions,
    async embed(texts) {
      return texts.map((text) => embedOne(text, dimensions));
    },
  };
}

const WORD_WEIGHT = 1;
const BIGRAM_WEIGHT = 0.5;
const TRIGRAM_WEIGHT = 0.35;

function embedOne(text: string, dimensions: number): number[] {
  const vector = new Array<number>(dimensions).fill(0);
  const add = (feature: string, weight: number) => {
    const h = fnv1a(feature);
    // One bit of the hash picks the sign, so collisions cancel out on average instead of piling up.
    vector[h % dimensions]! += h & 0x80000000 ? -weight : weight;
  };
  const words = tokenize(text);
  const stems = words.map(stem);
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    add(`w:${stems[i]}`, WORD_WEIGHT);
    if (i > 0) add(`b:${stems[i - 1]} ${stems[i]}`, BIGRAM_WEIGHT);
    const padded = `<${word}>`;
    for (let j = 0; j + 3 <= padded.length; j++) add(`c:${padded.slice(j, j + 3)}`, TRIGRAM_WEIGHT);
  }
  return l2Normalize(vector);
}

const STOPWORDS = new Set(
  'a an and are as at be by for from has have in is it of on or the this to was will with what who which when before after by than'.split(
    ' ',
  ),
);

export function tokenize(text: string): string[] {
  return (
    text
      .toLowerCase()
      .normalize('NFKD')
      .replace(/\p{M}/gu, '')
      .match(/[\p{L}\p{N}]+/gu) ?? []
  ).filter((w) => !STOPWORDS.has(w));
}

/** Strips a few English endings ("released" and "release" → "releas", "elections" → "election"): cheap, not linguistics. */
export function stem(word: string): string {
  for (const suffix of ['ing', 'ed', 'es', 'e', 's', 'ly']) {
    if (word.length >= suffix.length + 3 && word.endsWith(suffix)) return word.slice(0, -suffix.length);
  }
  return word;
}

/** 32-bit FNV-1a: fast, stable across processes and versions, good spread for short strings. */
function fnv1a(input: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < input.length; i++) {
    hash ^= input.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
