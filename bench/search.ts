import { PGlite } from '@electric-sql/pglite';
import { sql } from 'kysely';
import { openDatabase, PGLITE_OPTIONS } from '../src/db/database.ts';
import { migrate } from '../src/db/migrate.ts';
import { createLocalEmbedder } from '../src/lib/embeddings/local-embedder.ts';
import { documentOf } from '../src/modules/search/indexing.jobs.ts';
import { createSearchRepository } from '../src/modules/search/search.repository.ts';
import { ensureVectorSupport } from '../src/modules/search/vector-support.ts';

/**
 * `node bench/search.ts [--json]` — search at scale, on PGlite (the system PostgreSQL has no pgvector):
 * indexing throughput with the local embedder, HNSW index build, search p50/p99 and req/s (one
 * in-process client: PGlite is one connection), and recall@10 of HNSW against exact search.
 * SEARCH_BENCH_MARKETS (default 100000) and SEARCH_BENCH_QUERIES (default 200) size it;
 * EMBEDDING_DIMENSIONS (default 384). Progress on stderr; Markdown (or JSON) on stdout.
 */
export interface SearchBenchResult {
  markets: number;
  dimensions: number;
  embedPerSecond: number;
  indexPerSecond: number;
  hnswBuildSeconds: number;
  search: { queries: number; p50Ms: number; p99Ms: number; perSecond: number };
  fulltextSearch: { p50Ms: number; p99Ms: number; perSecond: number };
  recallAt10: number;
}

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

export async function runSearchBench(
  options: { markets?: number; queries?: number; dimensions?: number; log?: (message: string) => void } = {},
): Promise<SearchBenchResult> {
  const markets = options.markets ?? 100_000;
  const queryCount = options.queries ?? 200;
  const dimensions = options.dimensions ?? 384;
  const log = options.log ?? ((m: string) => console.error(`[search-bench] ${m}`));
  const rand = random(42);

  const database = await openDatabase({ pglite: await PGlite.create('memory://', PGLITE_OPTIONS) });
  try {
    const { db } = database;
    await migrate(database);
    if (!(await ensureVectorSupport(db, dimensions)).enabled) throw new Error('pgvector did not load');
    const embedder = createLocalEmbedder(dimensions);
    const repository = createSearchRepository(db);
    const user = await db
      .insertInto('users')
      .values({ email: 'bench@example.com', name: 'Bench' })
      .returning('id')
      .executeTakeFirstOrThrow();

    log(`inserting ${markets} markets`);
    const closesAt = new Date(Date.now() + 365 * 86_400_000);
    const BATCH = 1000;
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

    // Indexing: read, embed, write, as the job does (in batches); the HNSW index is dropped for the
    // bulk load and built after, the way one loads a large table.
    await sql`drop index market_embeddings_embedding_idx`.execute(db);
    log('embedding and storing');
    let embedSeconds = 0;
    const indexStarted = performance.now();
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
    const indexSeconds = (performance.now() - indexStarted) / 1000;
    log('building the HNSW index');
    const buildStarted = performance.now();
    // An HNSW build is far faster when the graph fits in maintenance_work_mem (default 64 MB).
    await sql`set maintenance_work_mem = '512MB'`.execute(db);
    await sql`create index market_embeddings_embedding_idx on market_embeddings using hnsw (embedding vector_cosine_ops)`.execute(
      db,
    );
    const hnswBuildSeconds = (performance.now() - buildStarted) / 1000;
    await sql`analyze`.execute(db);

    const queries = Array.from({ length: queryCount }, () => {
      const topic = TOPICS[Math.floor(rand() * TOPICS.length)]!;
      return `${topic[Math.floor(rand() * topic.length)]} ${PLACES[Math.floor(rand() * PLACES.length)]}`;
    });
    const timeSearches = async (hybrid: boolean) => {
      const latencies: number[] = [];
      const started = performance.now();
      for (const q of queries) {
        const t0 = performance.now();
        const vector = hybrid ? (await embedder.embed([q]))[0] : undefined;
        await repository.search({ q, vector, model: embedder.model, filters: {}, limit: 10, candidates: 40 });
        latencies.push(performance.now() - t0);
      }
      const seconds = (performance.now() - started) / 1000;
      latencies.sort((a, b) => a - b);
      return {
        p50Ms: percentile(latencies, 50),
        p99Ms: percentile(latencies, 99),
        perSecond: queries.length / seconds,
      };
    };
    log(`timing ${queryCount} hybrid and ${queryCount} full-text searches`);
    await timeSearches(true); // warm-up
    const hybrid = await timeSearches(true);
    const fulltext = await timeSearches(false);

    log('measuring recall@10 of HNSW against exact search');
    const nearest = async (vector: number[], exact: boolean) =>
      db.transaction().execute(async (trx) => {
        if (exact) await sql`set local enable_indexscan = off`.execute(trx);
        const { rows } = await sql<{ id: string }>`select market_id as id from market_embeddings
          order by embedding <=> ${JSON.stringify(vector)}::vector limit 10`.execute(trx);
        return rows.map((r) => r.id);
      });
    const sample = queries.slice(0, Math.min(50, queries.length));
    let found = 0;
    for (const vector of await embedder.embed(sample)) {
      const approx = new Set(await nearest(vector, false));
      found += (await nearest(vector, true)).filter((id) => approx.has(id)).length;
    }

    return {
      markets,
      dimensions,
      embedPerSecond: markets / embedSeconds,
      indexPerSecond: markets / indexSeconds,
      hnswBuildSeconds,
      search: { queries: queryCount, ...hybrid },
      fulltextSearch: fulltext,
      recallAt10: found / (sample.length * 10),
    };
  } finally {
    await database.close();
  }
}

export function searchBenchMarkdown(r: SearchBenchResult): string {
  const f = (x: number, digits = 1) => x.toFixed(digits);
  return [
    `### Search (PGlite + pgvector, ${r.markets} markets, ${r.dimensions} dimensions, local embedder)`,
    '',
    '| measure | value |',
    '|---|---|',
    `| hybrid search p50 / p99 | ${f(r.search.p50Ms)} ms / ${f(r.search.p99Ms)} ms |`,
    `| hybrid search throughput (1 client) | ${f(r.search.perSecond)} req/s |`,
    `| full-text search p50 / p99 | ${f(r.fulltextSearch.p50Ms)} ms / ${f(r.fulltextSearch.p99Ms)} ms |`,
    `| full-text search throughput (1 client) | ${f(r.fulltextSearch.perSecond)} req/s |`,
    `| recall@10, HNSW vs exact | ${f(r.recallAt10, 3)} |`,
    `| embedding (local) | ${f(r.embedPerSecond, 0)} markets/s |`,
    `| indexing: read + embed + store | ${f(r.indexPerSecond, 0)} markets/s |`,
    `| HNSW index build | ${f(r.hnswBuildSeconds)} s |`,
    '',
  ].join('\n');
}

if (import.meta.main) {
  const result = await runSearchBench({
    markets: Number(process.env.SEARCH_BENCH_MARKETS ?? 100_000),
    queries: Number(process.env.SEARCH_BENCH_QUERIES ?? 200),
    dimensions: Number(process.env.EMBEDDING_DIMENSIONS ?? 384),
  });
  console.log(process.argv.includes('--json') ? JSON.stringify(result) : searchBenchMarkdown(result));
}
