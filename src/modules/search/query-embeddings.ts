import { LRUCache } from 'lru-cache';
import type { Embedder } from '../../lib/embeddings/embedder.ts';

/** One query however it is spaced or cased: what is embedded, and the cache key with the model. */
export function normaliseQuery(q: string): string {
  return q.normalize('NFKC').trim().replace(/\s+/g, ' ').toLowerCase();
}

export type EmbedQuery = (q: string) => Promise<number[]>;

/**
 * A search question's embedding, remembered for the `maxEntries` most recent questions (0: never):
 * a repeated question costs no provider call, and the same question asked by many clients at once
 * costs one (lru-cache's fetch shares the call in flight). A failed call is not remembered.
 * Each entry holds one vector: `maxEntries` × dimensions × 8 bytes (1000 × 384: about 3 MB).
 */
export function createQueryEmbeddings(
  embedder: Pick<Embedder, 'embed' | 'model'>,
  maxEntries: number,
): EmbedQuery {
  const embedOne = async (text: string) => {
    const [vector] = await embedder.embed([text]);
    if (!vector) throw new Error('The embeddings provider returned no vector');
    return vector;
  };
  if (maxEntries === 0) return (q) => embedOne(normaliseQuery(q));
  const cache = new LRUCache<string, number[], string>({
    max: maxEntries,
    fetchMethod: (_key, _stale, { context }) => embedOne(context),
  });
  return async (q) => {
    const text = normaliseQuery(q);
    const vector = await cache.fetch(`${embedder.model}\n${text}`, { context: text });
    if (!vector) throw new Error('The embeddings provider returned no vector');
    return vector;
  };
}
