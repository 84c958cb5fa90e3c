import type { MarketStatus, Outcome, Role } from '../../src/db/schema.ts';
import { slugify } from '../../src/lib/slug.ts';

/**
 * Realistic sample data, deterministic for a given seed and reference time: the same
 * `--seed` always yields the same markets, so benchmarks and EXPLAIN tests are repeatable.
 * Distributions are shaped like a live prediction-market site: a few categories dominate,
 * a few creators make most markets, volume has a long tail, most markets are still open.
 */

export interface SampleUser {
  email: string;
  name: string;
  role: Role;
}

export interface SampleMarket {
  slug: string;
  name: string;
  description: string;
  category: string;
  tags: string[];
  status: MarketStatus;
  closesAt: Date;
  /** Index into the sample users (the loader maps it to the user's id). */
  creator: number;
  probability: number;
  /** Cents. */
  volume: number;
  outcome: Outcome | null;
  resolvedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface SampleOptions {
  seed: number;
  /** Dates are spread around this instant (default: now). */
  now?: Date;
}

/** mulberry32: a tiny, fast, well-distributed 32-bit PRNG; plenty for sample data. */
export function createRandom(seed: number) {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  return { next, int, pick, chance: (p: number) => next() < p };
}
type Random = ReturnType<typeof createRandom>;

const DAY = 86_400_000;

interface CategorySpec {
  /** Relative share of all markets. */
  weight: number;
  /** `{key}` placeholders are filled from `words`. */
  templates: readonly string[];
  words: Record<string, readonly string[]>;
  tags: readonly string[];
  resolution: string;
}

const CATEGORIES: Record<string, CategorySpec> = {
  politics: {
    weight: 18,
    templates: [
      'Will {politician} win the {year} {election}?',
      'Will {party} hold a majority in {country} after the {year} election?',
      'Will {country} hold a snap election before {month} {year}?',
      'Will {politician} approval rating exceed {pct}% by {month}?',
      'Will the {country} parliament pass the {bill} bill in {year}?',
    ],
    words: {
      politician: ['Ada Moreno', 'Jonas Weber', 'Priya Raman', 'Luis Ortega', 'Mei Tanaka', 'Samuel Okafor'],
      election: ['presidential election', 'general election', 'mayoral race', 'senate primary'],
      party: ['the Green Party', 'the Labour Party', 'the Liberal Democrats', 'the Conservatives'],
      country: ['France', 'Germany', 'Brazil', 'Japan', 'Canada', 'India', 'Kenya', 'Spain'],
      bill: ['housing', 'climate', 'data privacy', 'pension reform', 'minimum wage'],
    },
    tags: ['election', 'government', 'policy', 'polls', 'europe', 'americas', 'asia', 'legislation'],
    resolution: 'Resolves using the official results published by the electoral authority.',
  },
  sports: {
    weight: 16,
    templates: [
      'Will {team} win the {competition} in {year}?',
      'Will {athlete} score more than {n} goals this season?',
      'Will {team} finish in the top four of the {league}?',
      'Will the {competition} final go to extra time?',
      'Will {athlete} break the {event} world record in {year}?',
    ],
    words: {
      team: [
        'Lisbon Rovers',
        'Northside United',
        'Harbor City FC',
        'Real Valle',
        'Tokyo Comets',
        'Lagos Stars',
      ],
      competition: ['Champions Cup', 'World Cup', 'Continental League', 'Grand Slam', 'Super Bowl'],
      league: ['Premier Division', 'Serie Alta', 'National League'],
      athlete: ['Nia Mensah', 'Kai Lindqvist', 'Diego Alvarez', 'Aiko Sato', 'Tom Brennan'],
      event: ['100m', 'marathon', '400m hurdles', 'long jump'],
    },
    tags: ['football', 'tennis', 'athletics', 'basketball', 'championship', 'transfer', 'olympics', 'league'],
    resolution: 'Resolves on the result published by the competition organiser.',
  },
  crypto: {
    weight: 14,
    templates: [
      'Will {coin} close above {price}k on {month} 1, {year}?',
      'Will {coin} reach a new all-time high in {year}?',
      'Will a spot {coin} ETF be approved in {country} by {month}?',
      'Will {coin} flip {coin2} by market cap before {year}?',
      'Will the {coin} network process more than {n} million transactions in a day?',
    ],
    words: {
      coin: ['Bitcoin', 'Ether', 'Solana', 'Cardano', 'Polkadot', 'Avalanche'],
      coin2: ['Ether', 'Solana', 'BNB', 'XRP'],
      country: ['the US', 'the UK', 'Hong Kong', 'Brazil', 'Australia'],
    },
    tags: ['bitcoin', 'ethereum', 'defi', 'etf', 'price', 'regulation', 'altcoins', 'stablecoins'],
    resolution: 'Resolves using the daily close on a major exchange index.',
  },
  tech: {
    weight: 12,
    templates: [
      'Will {company} release {product} before {month} {year}?',
      'Will {company} market cap exceed {price}0bn by the end of {year}?',
      'Will {company} announce layoffs of more than {pct}% in {year}?',
      'Will an open-weights model top the {benchmark} leaderboard in {year}?',
      'Will {company} ship a {product} with a foldable screen?',
    ],
    words: {
      company: [
        'Orbital Labs',
        'Nimbus Systems',
        'Quanta AI',
        'Helix Robotics',
        'Pixelworks',
        'Arcadia Cloud',
      ],
      product: ['a smartphone', 'AR glasses', 'a self-driving taxi', 'a new chip', 'a laptop'],
      benchmark: ['coding', 'reasoning', 'math', 'vision'],
    },
    tags: ['ai', 'hardware', 'startups', 'big-tech', 'chips', 'software', 'ipo', 'gadgets'],
    resolution: "Resolves on the company's official announcement or filing.",
  },
  science: {
    weight: 8,
    templates: [
      'Will {mission} launch successfully in {year}?',
      'Will a room-temperature superconductor be replicated by {month} {year}?',
      'Will {agency} confirm water ice on {body} by {year}?',
      'Will a {field} paper be retracted from {journal} in {year}?',
      'Will the {mission} probe return samples before {year}?',
    ],
    words: {
      mission: ['Artemis IV', 'Europa Explorer', 'Starhopper', 'Lunar Gateway', 'Dragonfly'],
      agency: ['NASA', 'ESA', 'JAXA', 'ISRO'],
      body: ['the Moon', 'Mars', 'Ceres', 'Europa'],
      field: ['physics', 'genetics', 'climate', 'neuroscience'],
      journal: ['Nature', 'Science', 'Cell'],
    },
    tags: ['space', 'physics', 'biology', 'research', 'nasa', 'climate-science', 'medicine', 'discovery'],
    resolution: 'Resolves on the agency press release or the journal notice.',
  },
  weather: {
    weight: 8,
    templates: [
      'Will it snow in {city} on {month} {n}?',
      'Will {city} record a temperature above {temp}°C in {year}?',
      'Will a category 5 hurricane make landfall in {region} in {year}?',
      'Will {city} have more than {n} rainy days in {month}?',
      'Will {month} {year} be the hottest on record globally?',
    ],
    words: {
      city: ['Paris', 'Lisbon', 'Chicago', 'Osaka', 'Nairobi', 'Melbourne', 'Toronto', 'Madrid'],
      region: ['Florida', 'the Gulf Coast', 'the Caribbean', 'the Philippines'],
      temp: ['35', '38', '40', '42'],
    },
    tags: ['temperature', 'rain', 'snow', 'hurricanes', 'climate', 'heatwave', 'storms', 'records'],
    resolution: 'Resolves on the national meteorological service data.',
  },
  economics: {
    weight: 10,
    templates: [
      'Will {country} inflation fall below {pct}% by {month} {year}?',
      'Will the {bank} cut rates at its {month} meeting?',
      'Will {country} enter a recession in {year}?',
      'Will unemployment in {country} exceed {pct}% in {year}?',
      'Will oil trade above {price} a barrel on {month} 1?',
    ],
    words: {
      country: ['the US', 'the euro area', 'the UK', 'Japan', 'Brazil', 'India', 'Mexico'],
      bank: ['Federal Reserve', 'ECB', 'Bank of England', 'Bank of Japan'],
    },
    tags: ['inflation', 'interest-rates', 'gdp', 'jobs', 'markets', 'central-banks', 'recession', 'oil'],
    resolution: 'Resolves on the first official statistics release.',
  },
  entertainment: {
    weight: 9,
    templates: [
      'Will "{film}" gross more than {price}0m worldwide?',
      'Will {artist} win Album of the Year in {year}?',
      'Will "{show}" be renewed for another season?',
      'Will "{film}" win Best Picture in {year}?',
      'Will {artist} announce a world tour before {month}?',
    ],
    words: {
      film: ['The Last Orbit', 'Paper Tigers', 'Midnight Harbor', 'Glass Garden', 'Echoes of Rome'],
      artist: ['Luna Vale', 'The Northern Lights', 'DJ Kato', 'Maya Rivers', 'Static Bloom'],
      show: ['Harbor Nights', 'The Ledger', 'Crown of Ash', 'Signal Lost'],
    },
    tags: ['movies', 'music', 'tv', 'awards', 'box-office', 'streaming', 'celebrities', 'oscars'],
    resolution: 'Resolves on the figures or announcements of the studio or academy.',
  },
  business: {
    weight: 3,
    templates: [
      'Will {company} be acquired before {month} {year}?',
      'Will {company} report record quarterly revenue in {year}?',
      'Will {company} CEO step down in {year}?',
    ],
    words: { company: ['Atlas Freight', 'Verde Foods', 'Beacon Retail', 'Solace Health', 'Kite Airlines'] },
    tags: ['mergers', 'earnings', 'leadership', 'retail', 'airlines'],
    resolution: "Resolves on the company's regulatory filings.",
  },
  culture: {
    weight: 2,
    templates: [
      'Will "{word}" be named word of the year in {year}?',
      'Will the {event} draw more than {n}0,000 visitors?',
    ],
    words: {
      word: ['vibe', 'rizz', 'solarpunk', 'doomscroll', 'brainrot'],
      event: ['Lisbon Book Fair', 'Harbor Arts Festival', 'Night of Museums'],
    },
    tags: ['language', 'festivals', 'books', 'art', 'internet'],
    resolution: 'Resolves on the publisher or organiser announcement.',
  },
};

const CATEGORY_NAMES = Object.keys(CATEGORIES);
const CATEGORY_CUMULATIVE = (() => {
  let sum = 0;
  return CATEGORY_NAMES.map((name) => (sum += CATEGORIES[name]!.weight));
})();
const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];
const GENERIC_TAGS = ['trending', 'long-shot', 'community', 'featured', 'high-stakes'];
const FIRST = [
  'Ada',
  'Ben',
  'Chloé',
  'Dmitri',
  'Esi',
  'Farah',
  'Goran',
  'Hana',
  'Ivo',
  'Jun',
  'Kemi',
  'Lars',
];
const LAST = ['Almeida', 'Brandt', 'Chen', 'Dubois', 'Eze', 'Fischer', 'García', 'Haddad', 'Ito', 'Jensen'];

/** A few dozen users: one admin, two moderators, the rest ordinary users. Stable emails. */
export function sampleUsers(count: number, seed: number): SampleUser[] {
  const random = createRandom(seed ^ 0x5eed);
  return Array.from({ length: count }, (_, i) => ({
    email: `sample-user-${String(i + 1).padStart(3, '0')}@example.com`,
    name: `${random.pick(FIRST)} ${random.pick(LAST)}`,
    role: i === 0 ? 'admin' : i <= 2 ? 'moderator' : 'user',
  }));
}

/**
 * Yields `count` markets for `users` creators. The slug ends with the seed and the market's
 * index, so slugs are unique within a run and the same seed produces the same slugs again
 * (the loader skips those: seeding twice with one seed is idempotent).
 */
export function* sampleMarkets(
  count: number,
  users: number,
  options: SampleOptions,
): Generator<SampleMarket> {
  const random = createRandom(options.seed);
  const now = (options.now ?? new Date()).getTime();
  const suffix = `s${(options.seed >>> 0).toString(36)}`;
  for (let i = 0; i < count; i++) {
    const category = pickCategory(random);
    const spec = CATEGORIES[category]!;
    const name = fill(random.pick(spec.templates), spec.words, random, now);
    const createdAt = now - Math.floor(random.next() ** 1.5 * 365 * DAY);
    const { status, closesAt, outcome, resolvedAt } = lifecycle(random, createdAt, now);
    const volume = sampleVolume(random, status);
    const probability = sampleProbability(random, outcome);
    yield {
      slug: `${slugify(name).slice(0, 90).replace(/-+$/, '')}-${suffix}-${i.toString(36)}`,
      name,
      description: `${name} ${spec.resolution}`,
      category,
      tags: sampleTags(random, spec.tags),
      status,
      closesAt: new Date(closesAt),
      // Skewed towards the first users: a few prolific creators, many occasional ones.
      creator: Math.floor(random.next() ** 2.5 * users),
      probability,
      volume,
      outcome,
      resolvedAt: resolvedAt === null ? null : new Date(resolvedAt),
      createdAt: new Date(createdAt),
      updatedAt: new Date(Math.max(createdAt, resolvedAt ?? createdAt)),
    };
  }
}

function pickCategory(random: Random): string {
  const total = CATEGORY_CUMULATIVE.at(-1)!;
  const x = random.next() * total;
  return CATEGORY_NAMES[CATEGORY_CUMULATIVE.findIndex((c) => x < c)]!;
}

function fill(template: string, words: Record<string, readonly string[]>, random: Random, now: number) {
  const year = new Date(now).getUTCFullYear();
  return template.replace(/\{(\w+)\}/g, (_, key: string) => {
    const list = words[key];
    if (list) return random.pick(list);
    switch (key) {
      case 'year':
        return String(year + random.int(0, 2));
      case 'month':
        return random.pick(MONTHS);
      case 'pct':
        return String(random.int(2, 60));
      case 'price':
        return `$${random.int(1, 30) * 5}`;
      default:
        return String(random.int(2, 40));
    }
  });
}

/** Three in four markets still open; closed ones mostly resolved, some awaiting resolution. */
function lifecycle(random: Random, createdAt: number, now: number) {
  if (random.chance(0.75)) {
    const closesAt = now + Math.ceil(-Math.log(1 - random.next()) * 90 * DAY) + 60_000;
    const status: MarketStatus = random.chance(0.02) ? 'cancelled' : 'active';
    return { status, closesAt, outcome: null, resolvedAt: null };
  }
  const closesAt = createdAt + Math.floor(random.next() * (now - createdAt));
  const roll = random.next();
  if (roll < 0.6) {
    const resolvedAt = Math.min(now, closesAt + random.int(1, 72) * 3_600_000);
    return {
      status: 'resolved' as const,
      closesAt,
      outcome: random.pick(['YES', 'NO'] as const),
      resolvedAt,
    };
  }
  // 'active' past its close time is what a market looks like before anyone closes it.
  const status: MarketStatus = roll < 0.85 ? 'closed' : roll < 0.95 ? 'active' : 'cancelled';
  return { status, closesAt, outcome: null, resolvedAt: null };
}

/** Pareto (alpha ≈ 1.2, the 80/20 shape): most markets trade little, a few trade millions. */
function sampleVolume(random: Random, status: MarketStatus): number {
  if (status === 'cancelled' || random.chance(0.08)) return 0;
  const cents = 500 / (1 - random.next()) ** (1 / 1.2);
  return Math.min(Math.floor(cents), 50_000_000_000);
}

/** Open markets spread around 50 %; resolved ones sit near their outcome. */
function sampleProbability(random: Random, outcome: Outcome | null): number {
  let p: number;
  if (outcome) {
    const edge = 0.005 + random.next() * 0.03;
    p = outcome === 'YES' ? 1 - edge : edge;
  } else {
    // Logistic of a roughly normal variable (sum of uniforms): a bell on the log-odds scale.
    const z = (random.next() + random.next() + random.next() - 1.5) * 3;
    p = 1 / (1 + Math.exp(-z));
  }
  return Math.round(Math.min(0.99, Math.max(0.01, p)) * 10_000) / 10_000;
}

function sampleTags(random: Random, pool: readonly string[]): string[] {
  const tags = new Set<string>();
  const n = random.int(1, 4);
  while (tags.size < n) tags.add(random.pick(pool));
  if (random.chance(0.15)) tags.add(random.pick(GENERIC_TAGS));
  return [...tags];
}

export const SAMPLE_CATEGORIES = CATEGORY_NAMES;
