import { PGlite } from '@electric-sql/pglite';
import { type Kysely, sql } from 'kysely';
import { type Database, openDatabase, PGLITE_OPTIONS } from '../src/db/database.ts';
import { migrate } from '../src/db/migrate.ts';
import type { DB } from '../src/db/schema.ts';
import type { Embedder } from '../src/lib/embeddings/embedder.ts';
import { createLocalEmbedder } from '../src/lib/embeddings/local-embedder.ts';
import { documentOf } from '../src/modules/search/indexing.jobs.ts';
import {
  createSearchRepository,
  DEFAULT_SEARCH_TUNING,
  type SearchRepository,
  type SearchTuning,
} from '../src/modules/search/search.repository.ts';
import { createSearchService } from '../src/modules/search/search.service.ts';
import { ensureVectorSupport } from '../src/modules/search/vector-support.ts';
import { markdownTable } from './lib/markdown-table.ts';
import { createThrowawayDatabase } from './lib/throwaway-database.ts';

/**
 * `node bench/search.ts [--json]` — search at scale. Hybrid on PGlite with pgvector (indexing
 * throughput with the local embedder, HNSW build, latency through the search service, recall@10 of
 * the HNSW arm against exact search at several ef_search), and full text only on the PostgreSQL
 * of SEARCH_BENCH_POSTGRES_URL (an admin URL: a throwaway database is made there; unset: skipped),
 * which has no pgvector, on the same corpus. Each is timed beside the query before issue 16 (every
 * full-text match ranked, ef_search 40) in the same run. One in-process client (PGlite is one
 * connection). SEARCH_BENCH_MARKETS (default 100000), SEARCH_BENCH_QUERIES (default 500),
 * EMBEDDING_DIMENSIONS (default 384). Progress on stderr; Markdown (or JSON) on stdout.
 */
export interface Latency {
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  perSecond: number;
}

export interface SearchBenchResult {
  markets: number;
  dimensions: number;
  queries: number;
  embedPerSecond: number;
  indexPerSecond: number;
  hnswBuildSeconds: number;
  tuning: SearchTuning;
  pglite: { hybrid: Latency; hybridBefore: Latency; fulltext: Latency; fulltextBefore: Latency };
  /** PostgreSQL (no pgvector): full text only. */
  postgres?: { version: string; fulltext: Latency; fulltextBefore: Latency };
  /** Share of the unbounded full-text top 10 that the bounded pool's top 10 also has. */
  fulltextOverlapAt10: number;
  /** recall@10 of the HNSW arm against exact search, and its latency (vector arm only), per ef_search. */
  recall: { efSearch: number; recallAt10: number; vectorOnly: Latency }[];
  recallQueries: number;
}

/** The query before issue 16: every full-text match ranked, pgvector's default ef_search. */
const BEFORE: SearchTuning = { fullTextPool: 1_000_000_000, efSearch: 40 };
const EF_SEARCH_STEPS = [40, 100, 200, 400];
const RECALL_QUERIES = 100;

const TOPICS = [
  ['bitcoin', 'ethereum', 'solana', 'dogecoin', 'stablecoin'],
  ['election', 'senate', 'parliament', 'referendum', 'governor'],
  ['championship', 'world cup', 'final', 'league title', 'grand slam'],
  ['inflation', 'recession', 'interest rates', 'unemployment', 'gdp'],
  ['rocket launch', 'moon landing', 'mars mission', 'satellite', 'space station'],
  ['hurricane', 'heatwave', 'snowfall', 'drought', 'flood'],
  ['album', 'box office', 'oscar', 'streaming', 'festival'],
  ['ipo', 'merger', 'layoffs', 'earnings', 'antitrust'],
];
const PLACES = [
  'US',
  'UK',
  'France',
  'Brazil',
  'Japan',
  'India',
  'Germany',
  'Canada',
  'Kenya',
  'Mexico',
  'Spain',
];
const VERBS = [
  'exceed',
  'reach',
  'happen',
  'win',
  'fall below',
  'be announced',
  'be delayed',
  'break a record',
];

/** Deterministic pseudo-random (mulberry32), so runs are comparable. */
function random(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function marketText(i: number, rand: () => number) {
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)]!;
  const topic = pick(TOPICS);
  const subject = pick(topic);
  const place = pick(PLACES);
  const year = 2026 + Math.floor(rand() * 4);
  return {
    name: `Will the ${place} ${subject} ${pick(VERBS)} in ${year}? #${i}`,
    description: `Resolves YES if the ${subject} in ${place} ${pick(VERBS)} before the end of ${year}, per ${pick(topic)} reports.`,
  };
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

function summarise(latencies: number[], seconds: number): Latency {
  latencies.sort((a, b) => a - b);
  return {
    p50Ms: percentile(latencies, 50),
    p95Ms: percentile(latencies, 95),
    p99Ms: percentile(latencies, 99),
    perSecond: latencies.length / seconds,
  };
}

async function time(queries: string[], one: (q: string) => Promise<unknown>): Promise<Latency> {
  const latencies: number[] = [];
  const started = performance.now();
  for (const q of queries) {
    const t0 = performance.now();
    await one(q);
    latencies.push(performance.now() - t0);
  }
  return summarise(latencies, (performance.now() - started) / 1000);
}

/**
 * Each question asked of both, in turn (which goes first alternates): on a shared, loaded
 * machine both see the same load, so their ratio means more than either figure.
 */
async function timeBoth(
  queries: string[],
  now: (q: string) => Promise<unknown>,
  before: (q: string) => Promise<unknown>,
): Promise<{ now: Latency; before: Latency }> {
  const runs = [now, before];
  const latencies: number[][] = [[], []];
  const seconds = [0, 0];
  for (const [i, q] of queries.entries()) {
    for (const k of i % 2 ? [1, 0] : [0, 1]) {
      const t0 = performance.now();
      await runs[k]!(q);
      const ms = performance.now() - t0;
      latencies[k]!.push(ms);
      seconds[k]! += ms / 1000;
    }
  }
  return { now: summarise(latencies[0]!, seconds[0]!), before: summarise(latencies[1]!, seconds[1]!) };
}

/** The bench's markets, inserted in batches (the trigger writes their full-text documents). */
export async function insertCorpus(db: Kysely<DB>, markets: number) {
  const rand = random(42);
  const user = await db
    .insertInto('users')
    .values({ email: 'bench@example.com', name: 'Bench' })
    .returning('id')
    .executeTakeFirstOrThrow();
  const closesAt = new Date(Date.now() + 365 * 86_400_000);
  for (let i = 0; i < markets; i += BATCH) {
    const rows = [];
    for (let j = i; j < Math.min(markets, i + BATCH); j++) {
      rows.push({
        slug: `bench-${j}`,
        ...marketText(j, rand),
        category: 'bench',
        closesAt,
        creatorId: user.id,
      });
    }
    await db.insertInto('markets').values(rows).execute();
  }
}

const BATCH = 1000;

/** Questions like a user's: a subject and a place, some asked more than once. */
export function benchQueries(count: number): string[] {
  const rand = random(7);
  return Array.from({ length: count }, () => {
    const topic = TOPICS[Math.floor(rand() * TOPICS.length)]!;
    return `${topic[Math.floor(rand() * topic.length)]} ${PLACES[Math.floor(rand() * PLACES.length)]}`;
  });
}

const fullTextOnly = (repository: SearchRepository) => (q: string) =>
  repository.search({ q, model: 'none', filters: {}, limit: 10, candidates: 40 });

/** Embeds every market as the indexing job does, then builds the HNSW index (as one loads a large table). */
export async function indexCorpus(db: Kysely<DB>, embedder: Embedder) {
  const repository = createSearchRepository(db);
  await sql`drop index market_embeddings_embedding_idx`.execute(db);
  let embedSeconds = 0;
  const started = performance.now();
  for (let after: string | undefined; ; ) {
    const ids = await repository.listIds(after, BATCH);
    if (ids.length === 0) break;
    const rows = await repository.findForIndexing(ids);
    const t0 = performance.now();
    const vectors = await embedder.embed(rows.map(documentOf));
    embedSeconds += (performance.now() - t0) / 1000;
    await repository.saveEmbeddings(rows, embedder.model, vectors);
    after = ids.at(-1);
  }
  const indexSeconds = (performance.now() - started) / 1000;
  const buildStarted = performance.now();
  // An HNSW build is far faster when the graph fits in maintenance_work_mem (default 64 MB).
  await sql`set maintenance_work_mem = '512MB'`.execute(db);
  await sql`create index market_embeddings_embedding_idx on market_embeddings using hnsw (embedding vector_cosine_ops)`.execute(
    db,
  );
  return { embedSeconds, indexSeconds, hnswBuildSeconds: (performance.now() - buildStarted) / 1000 };
}

/**
 * recall@10 of the HNSW arm as search runs it (ef_search from `tuning`, vector arm only) against
 * exact search (the index switched off). Ties count: a market as near as the exact 10th is a hit.
 */
async function recallAt10(db: Kysely<DB>, embedder: Embedder, efSearch: number, queries: string[]) {
  const repository = createSearchRepository(db, db, { ...DEFAULT_SEARCH_TUNING, efSearch });
  let found = 0;
  for (const q of queries) {
    const [vector] = await embedder.embed([q]);
    const literal = JSON.stringify(vector);
    const hits = await repository.search({
      q,
      vector,
      fullText: false,
      model: embedder.model,
      filters: {},
      limit: 10,
      candidates: 40,
    });
    const exact = await db.transaction().execute(async (trx) => {
      await sql`set local enable_indexscan = off`.execute(trx);
      const { rows } = await sql<{ distance: number }>`select embedding <=> ${literal}::vector as distance
        from market_embeddings order by 1 limit 10`.execute(trx);
      return rows;
    });
    const tenth = exact.at(-1)!.distance;
    const { rows } = await sql<{ distance: number }>`select embedding <=> ${literal}::vector as distance
      from market_embeddings where market_id = any(${hits.map((h) => h.market.id)}::uuid[])`.execute(db);
    found += rows.filter((r) => r.distance <= tenth + 1e-9).length;
  }
  const vectorOnly = await time(queries, async (q) =>
    repository.search({
      q,
      vector: (await embedder.embed([q]))[0],
      fullText: false,
      model: embedder.model,
      filters: {},
      limit: 10,
      candidates: 40,
    }),
  );
  return { efSearch, recallAt10: found / (queries.length * 10), vectorOnly };
}

/** Share of the unbounded full-text top 10 that the bounded top 10 also has. */
async function fulltextOverlap(db: Kysely<DB>, queries: string[]) {
  const bounded = fullTextOnly(createSearchRepository(db));
  const unbounded = fullTextOnly(createSearchRepository(db, db, BEFORE));
  let same = 0;
  for (const q of queries) {
    const a = new Set((await bounded(q)).map((h) => h.market.id));
    same += (await unbounded(q)).filter((h) => a.has(h.market.id)).length;
  }
  return same / (queries.length * 10);
}

async function onPostgres(adminUrl: string, markets: number, queries: string[], log: (m: string) => void) {
  const target = await createThrowawayDatabase(adminUrl, 'markets_search_bench');
  let database: Database | undefined;
  try {
    database = await openDatabase({ url: target.url, poolSize: 2 });
    const { db } = database;
    await migrate(database);
    log(`PostgreSQL: inserting ${markets} markets`);
    await insertCorpus(db, markets);
    await sql`analyze`.execute(db);
    const { rows } = await sql<{
      version: string;
    }>`select current_setting('server_version') as version`.execute(db);
    log(`PostgreSQL: timing ${queries.length} full-text searches, now and before`);
    const now = fullTextOnly(createSearchRepository(db));
    const before = fullTextOnly(createSearchRepository(db, db, BEFORE));
    await time(queries, now);
    await time(queries, before);
    return {
      version: rows[0]!.version,
      fulltext: await time(queries, now),
      fulltextBefore: await time(queries, before),
    };
  } finally {
    await database?.close();
    await target.drop();
  }
}

export async function runSearchBench(
  options: {
    markets?: number;
    queries?: number;
    dimensions?: number;
    /** An admin URL of a PostgreSQL server for the full-text-only figures; unset: skipped. */
    postgresUrl?: string | undefined;
    log?: (message: string) => void;
  } = {},
): Promise<SearchBenchResult> {
  const markets = options.markets ?? 100_000;
  const queryCount = options.queries ?? 500;
  const dimensions = options.dimensions ?? 384;
  const log = options.log ?? ((m: string) => console.error(`[search-bench] ${m}`));
  const queries = benchQueries(queryCount);

  // PostgreSQL first: the shorter run, and the one the issue asks for in full text only.
  const postgres = options.postgresUrl
    ? await onPostgres(options.postgresUrl, markets, queries, log)
    : undefined;
  const database = await openDatabase({ pglite: await PGlite.create('memory://', PGLITE_OPTIONS) });
  try {
    const { db } = database;
    await migrate(database);
    if (!(await ensureVectorSupport(db, dimensions)).enabled) throw new Error('pgvector did not load');
    const embedder = createLocalEmbedder(dimensions);
    log(`PGlite: inserting ${markets} markets`);
    await insertCorpus(db, markets);
    log('PGlite: embedding, storing, building the HNSW index');
    const indexing = await indexCorpus(db, embedder);
    await sql`analyze`.execute(db);

    // Hybrid as the API runs it: the service (query embeddings remembered), a fresh one per pass.
    const hybrid = (tuning: SearchTuning) => {
      const service = createSearchService({
        search: createSearchRepository(db, db, tuning),
        embedder,
        mode: 'hybrid',
        queryEmbeddingCacheSize: 1000,
      });
      return (q: string) => service.search({ q, limit: 10 });
    };
    log(`PGlite: timing ${queryCount} searches of each kind, now and before`);
    await timeBoth(queries, hybrid(DEFAULT_SEARCH_TUNING), hybrid(BEFORE)); // warm-up
    const both = await timeBoth(queries, hybrid(DEFAULT_SEARCH_TUNING), hybrid(BEFORE));
    const fulltext = await timeBoth(
      queries,
      fullTextOnly(createSearchRepository(db)),
      fullTextOnly(createSearchRepository(db, db, BEFORE)),
    );
    log(
      `PGlite hybrid now/before: ${JSON.stringify(both)}; full text now/before: ${JSON.stringify(fulltext)}`,
    );
    const pglite = {
      hybrid: both.now,
      hybridBefore: both.before,
      fulltext: fulltext.now,
      fulltextBefore: fulltext.before,
    };

    log('PGlite: recall@10 of HNSW against exact search');
    const sample = queries.slice(0, Math.min(RECALL_QUERIES, queries.length));
    const recall = [];
    for (const ef of EF_SEARCH_STEPS) {
      recall.push(await recallAt10(db, embedder, ef, sample));
      log(`recall: ${JSON.stringify(recall.at(-1))}`);
    }
    const fulltextOverlapAt10 = await fulltextOverlap(db, sample);
    log(`full-text top 10 shared with ranking every match: ${fulltextOverlapAt10}`);

    return {
      markets,
      dimensions,
      queries: queryCount,
      embedPerSecond: markets / indexing.embedSeconds,
      indexPerSecond: markets / indexing.indexSeconds,
      hnswBuildSeconds: indexing.hnswBuildSeconds,
      tuning: DEFAULT_SEARCH_TUNING,
      pglite,
      ...(postgres && { postgres }),
      fulltextOverlapAt10,
      recall,
      recallQueries: sample.length,
    };
  } finally {
    await database.close();
  }
}

const ms = (x: number) => Math.round(x * 100) / 100;
const latencyRow = (name: string, l: Latency, baseline?: Latency): (string | number)[] => [
  name,
  ms(l.p50Ms),
  ms(l.p95Ms),
  ms(l.p99Ms),
  Math.round(l.perSecond),
  baseline ? `${(l.p99Ms / baseline.p99Ms).toFixed(2)}×` : '—',
];

/** The report's Markdown (the bench section prints it). */
export function searchBenchMarkdown(r: SearchBenchResult): string {
  const p = r.pglite;
  const rows = [
    latencyRow(
      `PGlite hybrid (ef_search ${r.tuning.efSearch}, full-text pool ${r.tuning.fullTextPool})`,
      p.hybrid,
      p.hybridBefore,
    ),
    latencyRow('PGlite hybrid before (every match ranked, ef_search 40)', p.hybridBefore),
    latencyRow(`PGlite full text (pool ${r.tuning.fullTextPool})`, p.fulltext, p.fulltextBefore),
    latencyRow('PGlite full text before (every match ranked)', p.fulltextBefore),
  ];
  if (r.postgres) {
    rows.push(
      latencyRow(
        `PostgreSQL ${r.postgres.version} full text only (pool ${r.tuning.fullTextPool})`,
        r.postgres.fulltext,
        r.postgres.fulltextBefore,
      ),
      latencyRow(
        `PostgreSQL ${r.postgres.version} full text before (every match ranked)`,
        r.postgres.fulltextBefore,
      ),
    );
  }
  return [
    `${r.markets} markets, ${r.dimensions} dimensions, local embedder; ${r.queries} queries, one client, in process.`,
    '',
    markdownTable(['search', 'p50 (ms)', 'p95 (ms)', 'p99 (ms)', 'per second', 'p99 vs before'], rows),
    '',
    markdownTable(
      [
        'ef_search',
        `recall@10 vs exact (${r.recallQueries} queries)`,
        'vector arm p50 (ms)',
        'vector arm p99 (ms)',
      ],
      r.recall.map((x) => [
        x.efSearch === r.tuning.efSearch ? `${x.efSearch} (default)` : String(x.efSearch),
        x.recallAt10.toFixed(3),
        ms(x.vectorOnly.p50Ms),
        ms(x.vectorOnly.p99Ms),
      ]),
    ),
    '',
    markdownTable(
      ['measure', 'value'],
      [
        [
          `full-text top 10 shared with ranking every match (${r.recallQueries} queries)`,
          r.fulltextOverlapAt10.toFixed(3),
        ],
        ['embedding (local), markets per second', Math.round(r.embedPerSecond)],
        ['indexing: read + embed + store, markets per second', Math.round(r.indexPerSecond)],
        ['HNSW index build', `${r.hnswBuildSeconds.toFixed(1)} s`],
      ],
    ),
  ].join('\n');
}

if (import.meta.main) {
  const result = await runSearchBench({
    markets: Number(process.env.SEARCH_BENCH_MARKETS ?? 100_000),
    queries: Number(process.env.SEARCH_BENCH_QUERIES ?? 500),
    dimensions: Number(process.env.EMBEDDING_DIMENSIONS ?? 384),
    postgresUrl: process.env.SEARCH_BENCH_POSTGRES_URL,
  });
  console.log(process.argv.includes('--json') ? JSON.stringify(result) : searchBenchMarkdown(result));
}
