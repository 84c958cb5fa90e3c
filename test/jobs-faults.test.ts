import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { eventually } from './helpers/eventually.ts';
import { marketBody } from './helpers/factories.ts';
import {
  type Behaviour,
  type EmbeddingsRequest,
  startFakeEmbeddingsServer,
} from './helpers/fake-embeddings-server.ts';

const DIMENSIONS = 16;

// Fault injection needs somewhere to store vectors, so these run on PGlite (which has pgvector).
// The provider is an OpenAI-compatible server on 127.0.0.1 whose answer depends on the market's
// words. HTTP-level retries are off here (EMBEDDINGS_MAX_RETRIES=0): it is the job that retries.
describe('indexing jobs against a failing embeddings provider (pglite)', () => {
  let t: TestApp;
  let admin: Awaited<ReturnType<TestApp['user']>>;
  let provider: Awaited<ReturnType<typeof startFakeEmbeddingsServer>>;
  let acceptRejected = false;

  const about = (request: EmbeddingsRequest, word: string) =>
    request.input.some((text) => text.includes(word));
  const seen = (word: string) => provider.requests.filter((r) => about(r, word));

  before(async () => {
    provider = await startFakeEmbeddingsServer(DIMENSIONS, (request): Behaviour => {
      if (about(request, 'flaky') && seen('flaky').length <= 2)
        return { kind: 'status', status: 500, body: { error: { message: 'upstream overloaded' } } };
      if (about(request, 'rejected') && !acceptRejected)
        return {
          kind: 'status',
          status: 400,
          body: { error: { message: 'Invalid input: token limit exceeded' } },
        };
      if (about(request, 'sleepy') && seen('sleepy').length === 1) return { kind: 'hang' };
      return { kind: 'ok' };
    });
    t = await buildTestApp('pglite', {
      EMBEDDINGS_PROVIDER: 'openai',
      EMBEDDINGS_URL: provider.url,
      EMBEDDINGS_API_KEY: 'sk-test',
      EMBEDDING_DIMENSIONS: String(DIMENSIONS),
      EMBEDDINGS_MAX_RETRIES: '0',
      EMBEDDINGS_TIMEOUT_MS: '400',
      JOB_RETRY_LIMIT: '3',
      JOB_RETRY_DELAY_SECONDS: '1',
      WORKER_POLL_INTERVAL_MS: '500',
    });
    admin = await t.user('admin');
  });
  after(async () => {
    await t.close();
    await provider.close();
  });

  const createMarket = async (name: string) => {
    const res = await t.request({
      method: 'POST',
      url: '/api/markets',
      headers: admin.auth,
      payload: marketBody({ name }),
    });
    assert.equal(res.statusCode, 201);
    return res.json().data.id as string;
  };
  const isEmbedded = async (marketId: string) =>
    (await t.database.db
      .selectFrom('marketEmbeddings')
      .select('marketId')
      .where('marketId', '=', marketId)
      .executeTakeFirst()) !== undefined;
  const deadLetters = async () =>
    (await t.request({ method: 'GET', url: '/api/admin/jobs?state=failed', headers: admin.auth })).json()
      .data as {
      id: string;
      data: { marketId: string };
      error: string;
      attempts: number;
    }[];

  test('a provider that answers 500 twice then 200: the job retries with growing delays and the market becomes searchable', async () => {
    const id = await createMarket('Will the flaky provider recover?');
    await eventually(() => isEmbedded(id), 20_000, 'market embedded');
    const attempts = seen('flaky');
    assert.equal(attempts.length, 3);
    // pg-boss backoff: retry n waits between 2^(n-1) and 2^n times JOB_RETRY_DELAY_SECONDS.
    const gaps = [attempts[1]!.at - attempts[0]!.at, attempts[2]!.at - attempts[1]!.at];
    assert.ok(gaps[0]! >= 900, `first retry after ${gaps[0]} ms`);
    assert.ok(gaps[1]! >= 1900, `second retry after ${gaps[1]} ms`);
    const search = await t.request({ method: 'GET', url: '/api/markets/search?q=flaky%20provider' });
    assert.equal(search.json().data[0].id, id);
  });

  test('a provider that answers 400 is not retried: the job is dead-lettered with its message, and an admin can retry it', async () => {
    const id = await createMarket('Will the rejected text ever be embedded?');
    await eventually(
      async () => (await deadLetters()).some((j) => j.data.marketId === id),
      15_000,
      'dead letter',
    );
    assert.equal(seen('rejected').length, 1, 'no retry after a 400');
    const letter = (await deadLetters()).find((j) => j.data.marketId === id)!;
    assert.match(letter.error, /Invalid input: token limit exceeded/);
    assert.equal(letter.attempts, 1);
    assert.equal(await isEmbedded(id), false);

    const user = await t.user('user');
    const forbidden = await t.request({
      method: 'POST',
      url: `/api/admin/jobs/${letter.id}/retry`,
      headers: user.auth,
    });
    assert.equal(forbidden.statusCode, 403);

    acceptRejected = true;
    const retried = await t.request({
      method: 'POST',
      url: `/api/admin/jobs/${letter.id}/retry`,
      headers: admin.auth,
    });
    assert.equal(retried.statusCode, 202);
    await eventually(() => isEmbedded(id), 15_000, 'embedded after retry');
    assert.equal(
      (await deadLetters()).some((j) => j.id === letter.id),
      false,
    );
    const again = await t.request({
      method: 'POST',
      url: `/api/admin/jobs/${letter.id}/retry`,
      headers: admin.auth,
    });
    assert.equal(again.statusCode, 404);
  });

  test('a provider that hangs: the request times out and the job retries', async () => {
    const id = await createMarket('Will the sleepy provider wake up?');
    await eventually(() => isEmbedded(id), 15_000, 'embedded after timeout');
    const attempts = seen('sleepy');
    assert.equal(attempts.length, 2);
    assert.equal(attempts[0]!.aborted, true, 'the hung request was abandoned');
    assert.ok(attempts[1]!.at - attempts[0]!.at >= 400 + 900, 'timeout, then backoff');
  });

  test('the admin reindex queues every market and brings each to the current model', async () => {
    await t.database.db.deleteFrom('marketEmbeddings').execute();
    const res = await t.request({ method: 'POST', url: '/api/admin/reindex', headers: admin.auth });
    assert.equal(res.statusCode, 202);
    const { count } = await t.database.db
      .selectFrom('markets')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .executeTakeFirstOrThrow();
    assert.equal(res.json().data.queued, Number(count));
    await eventually(
      async () => {
        const rows = await t.database.db.selectFrom('marketEmbeddings').select('model').execute();
        return (
          rows.length === Number(count) &&
          rows.every((r) => r.model === `openai:text-embedding-3-small:${DIMENSIONS}`)
        );
      },
      15_000,
      'all markets reindexed',
    );
    const forbidden = await t.request({
      method: 'POST',
      url: '/api/admin/reindex',
      headers: (await t.user('moderator')).auth,
    });
    assert.equal(forbidden.statusCode, 403);
  });
});
