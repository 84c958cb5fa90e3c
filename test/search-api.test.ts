import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { databaseKinds } from './helpers/databases.ts';
import { eventually } from './helpers/eventually.ts';
import { marketBody } from './helpers/factories.ts';

for (const kind of databaseKinds()) {
  describe(`search API (${kind})`, () => {
    let t: TestApp;
    let alice: Awaited<ReturnType<TestApp['user']>>;
    const expectedMode = kind === 'pglite' ? 'hybrid' : 'fulltext';

    before(async () => {
      t = await buildTestApp(kind, { WORKER_POLL_INTERVAL_MS: '500' });
      alice = await t.user('user', 'Alice');
    });
    after(() => t.close());

    const create = (body: Record<string, unknown>) =>
      t.request({ method: 'POST', url: '/api/markets', headers: alice.auth, payload: marketBody(body) });
    const search = (query: string) => t.request({ method: 'GET', url: `/api/markets/search?${query}` });
    /** Waits for the background job to embed the market. */
    const embedded = (marketId: string) =>
      eventually(async () => {
        const row = await t.database.db
          .selectFrom('marketEmbeddings')
          .select('marketId')
          .where('marketId', '=', marketId)
          .executeTakeFirst();
        return row !== undefined;
      });

    test('a new market is found by its words, best match first, each result with a score', async () => {
      await create({
        name: 'Will Bitcoin close above $150k in 2026?',
        description: 'Coinbase BTC-USD daily close.',
        category: 'crypto',
      });
      await create({
        name: 'Will Ethereum flip Bitcoin by market cap?',
        description: '',
        category: 'crypto',
      });
      await create({ name: 'Will it rain in Lisbon on New Year?', category: 'weather' });
      const res = await search('q=bitcoin%20close%20above%20150k');
      assert.equal(res.statusCode, 200);
      const body = res.json();
      assert.equal(body.meta.mode, expectedMode);
      assert.equal(body.data[0].name, 'Will Bitcoin close above $150k in 2026?');
      assert.ok(body.data.every((m: { name: string }) => !m.name.includes('Lisbon')));
      const scores = body.data.map((m: { score: number }) => m.score);
      assert.deepEqual(
        scores,
        [...scores].sort((a, b) => b - a),
        'scores descend',
      );
    });

    test('status and category filters narrow the results', async () => {
      await create({ name: 'Will the Lakers win the NBA title?', category: 'sports' });
      await create({ name: 'Will the Lakers stadium be renamed?', category: 'business' });
      const res = await search('q=lakers&category=sports&status=active');
      assert.deepEqual(
        res.json().data.map((m: { name: string }) => m.name),
        ['Will the Lakers win the NBA title?'],
      );
    });

    test('tags are searched too, and a changed tag is found at once', async () => {
      const created = await create({ name: 'Will the new ferry line open on time?', tags: ['azores'] });
      const { id } = created.json().data;
      // In hybrid mode every embedded market is some query's neighbour: once this one is embedded
      // too, its full-text match puts it first; until then it could tie with the nearest neighbour.
      if (expectedMode === 'hybrid') await embedded(id);
      assert.equal((await search('q=azores')).json().data[0]?.name, 'Will the new ferry line open on time?');
      const patched = await t.request({
        method: 'PATCH',
        url: `/api/markets/${id}`,
        headers: alice.auth,
        payload: { tags: ['madeira'] },
      });
      assert.equal(patched.statusCode, 200);
      assert.equal((await search('q=madeira')).json().data[0]?.id, id);
      if (expectedMode === 'fulltext') {
        assert.ok((await search('q=azores')).json().data.every((m: { id: string }) => m.id !== id));
      }
    });

    test('q must be 1 to 500 characters; a bad limit is a 400', async () => {
      for (const query of [
        'q=',
        `q=${'a'.repeat(501)}`,
        'q=x&limit=0',
        'q=x&limit=51',
        'limit=5',
        'q=x&status=open',
      ]) {
        const res = await search(query);
        assert.equal(res.statusCode, 400, query);
        assert.equal(res.json().success, false);
      }
      assert.equal((await search(`q=${'a'.repeat(500)}`)).statusCode, 200);
    });

    test('/api/markets/search is the search route, not a market whose slug is "search"', async () => {
      await create({ name: 'A market slugged search', slug: 'search' });
      const res = await search('q=slugged');
      assert.equal(res.statusCode, 200);
      assert.ok(Array.isArray(res.json().data));
    });

    if (kind === 'pglite') {
      test('a market is embedded by the background job and then found by spelling variants too', async () => {
        const created = (
          await create({ name: 'Will the Eurovision winner be Swedish?', category: 'culture' })
        ).json().data;
        await embedded(created.id);
        // A misspelling and another form of the word: no English stem in common with the name, so
        // full text finds nothing; the embedding's character n-grams do.
        const res = await search('q=eurovison%20swede');
        assert.equal(res.json().data[0]?.id, created.id);
      });
    } else {
      test('without pgvector the service warns once at start and searches full text', () => {
        const warnings = t.logs.filter((l) => String(l.msg).includes('pgvector is not available'));
        assert.equal(warnings.length, 1);
        assert.equal(warnings[0]!.level, 40);
      });
    }
  });
}
