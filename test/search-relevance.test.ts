import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createLocalEmbedder } from '../src/lib/embeddings/local-embedder.ts';
import { documentOf } from '../src/modules/search/indexing.jobs.ts';
import { createSearchRepository, type SearchRepository } from '../src/modules/search/search.repository.ts';
import { ensureVectorSupport } from '../src/modules/search/vector-support.ts';
import { MARKETS, QUERIES } from './fixtures/search-relevance.ts';
import { createTestDatabase, type TestDatabase } from './helpers/databases.ts';

const DIMENSIONS = 384;
type Mode = 'fulltext' | 'vector' | 'hybrid';

/** recall@3 (share of expected markets in the top 3) and MRR (1 / rank of the first expected one). */
function score(rankings: string[][]): { recallAt3: number; mrr: number } {
  let recall = 0;
  let mrr = 0;
  for (const [i, ranking] of rankings.entries()) {
    const relevant = QUERIES[i]!.relevant;
    recall +=
      relevant.filter((key) => ranking.slice(0, 3).includes(key)).length / Math.min(3, relevant.length);
    const first = ranking.findIndex((key) => relevant.includes(key));
    mrr += first === -1 ? 0 : 1 / (first + 1);
  }
  return { recallAt3: recall / rankings.length, mrr: mrr / rankings.length };
}

// Relevance, measured on a fixture of ~200 markets and 30 queries with the local embedder.
describe('search relevance (pglite, local embedder)', () => {
  let testDb: TestDatabase;
  let repository: SearchRepository;
  const embedder = createLocalEmbedder(DIMENSIONS);
  const keyOf = new Map<string, string>();

  before(async () => {
    testDb = await createTestDatabase('pglite');
    const { db } = testDb.database;
    assert.deepEqual(await ensureVectorSupport(db, DIMENSIONS), { enabled: true });
    repository = createSearchRepository(db);
    const user = await db
      .insertInto('users')
      .values({ email: 'fixture@example.com', name: 'Fixture' })
      .returning('id')
      .executeTakeFirstOrThrow();
    const entries = Object.entries(MARKETS);
    const rows = await db
      .insertInto('markets')
      .values(
        // Fixed ids: ties in rank are broken by id, so the measurement is the same on every run.
        entries.map(([key, name], i) => ({
          id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
          slug: key,
          name,
          category: 'fixture',
          closesAt: new Date(Date.now() + 86_400_000),
          creatorId: user.id,
        })),
      )
      .returning(['id', 'slug', 'name', 'description', 'version'])
      .execute();
    for (const row of rows) keyOf.set(row.id, row.slug);
    await repository.saveEmbeddings(rows, embedder.model, await embedder.embed(rows.map(documentOf)));
  });
  after(() => testDb.cleanup());

  async function rankAll(mode: Mode): Promise<string[][]> {
    const out: string[][] = [];
    for (const { q } of QUERIES) {
      const [vector] = mode === 'fulltext' ? [undefined] : await embedder.embed([q]);
      const hits = await repository.search({
        q,
        vector,
        fullText: mode !== 'vector',
        model: embedder.model,
        filters: {},
        limit: 10,
        candidates: 40,
      });
      out.push(hits.map((h) => keyOf.get(h.market.id)!));
    }
    return out;
  }

  test('hybrid retrieval is not worse than full text alone (recall@3 and MRR reported)', async (t) => {
    const results: Record<Mode, { recallAt3: number; mrr: number }> = {
      fulltext: score(await rankAll('fulltext')),
      vector: score(await rankAll('vector')),
      hybrid: score(await rankAll('hybrid')),
    };
    const line = (mode: Mode) =>
      `${mode.padEnd(8)} recall@3=${results[mode].recallAt3.toFixed(3)} MRR=${results[mode].mrr.toFixed(3)}`;
    t.diagnostic(`${QUERIES.length} queries over ${Object.keys(MARKETS).length} markets`);
    for (const mode of ['fulltext', 'vector', 'hybrid'] as const) t.diagnostic(line(mode));
    if (process.env.RELEVANCE_DEBUG) {
      const r = { f: await rankAll('fulltext'), v: await rankAll('vector'), h: await rankAll('hybrid') };
      for (const [i, q] of QUERIES.entries()) {
        const pos = (x: string[]) => x.findIndex((k) => q.relevant.includes(k));
        t.diagnostic(
          `${q.q}: f=${pos(r.f[i]!)} v=${pos(r.v[i]!)} h=${pos(r.h[i]!)} f0=${r.f[i]![0]} h0=${r.h[i]![0]}`,
        );
      }
    }
    assert.ok(results.hybrid.recallAt3 >= results.fulltext.recallAt3, line('hybrid'));
    assert.ok(results.hybrid.mrr >= results.fulltext.mrr, line('hybrid'));
  });
});
