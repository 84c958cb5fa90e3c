import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { startFakeEmbeddingsServer } from './helpers/fake-embeddings-server.ts';

/**
 * A search question's embedding is remembered: asking again (however spaced or cased) costs no
 * provider call, a new question does, and the cache holds SEARCH_QUERY_EMBEDDING_CACHE_SIZE
 * questions. Real HTTP against the app on PGlite (hybrid), an OpenAI-compatible fake on loopback.
 */
describe('query embeddings are remembered for repeated searches', () => {
  let t: TestApp;
  let provider: Awaited<ReturnType<typeof startFakeEmbeddingsServer>>;

  before(async () => {
    provider = await startFakeEmbeddingsServer(8);
    t = await buildTestApp('pglite', {
      EMBEDDINGS_PROVIDER: 'openai',
      EMBEDDINGS_URL: provider.url,
      EMBEDDINGS_API_KEY: 'sk-test',
      EMBEDDING_DIMENSIONS: '8',
      SEARCH_QUERY_EMBEDDING_CACHE_SIZE: '2',
      WORKERS: '0',
    });
  });
  after(async () => {
    await t?.close();
    await provider?.close();
  });

  const search = async (q: string) => {
    const res = await t.request({ method: 'GET', url: `/api/markets/search?q=${encodeURIComponent(q)}` });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().meta.mode, 'hybrid');
  };
  /** Provider calls that embedded `text` (searches send one question per call). */
  const calls = (text: string) =>
    provider.requests.filter((r) => r.input.length === 1 && r.input[0] === text).length;

  test('the same question again costs no provider call; another question does', async () => {
    await search('Bitcoin  ETF');
    assert.equal(calls('bitcoin etf'), 1, 'embedded once, in its normalised form');
    await search(' bitcoin etf ');
    await search('BITCOIN ETF');
    assert.equal(calls('bitcoin etf'), 1, 'the repeats were answered from the cache');

    await search('ethereum merge');
    assert.equal(calls('ethereum merge'), 1, 'a different question calls the provider');
  });

  test('the same new question from many clients at once is embedded once', async () => {
    await Promise.all(Array.from({ length: 5 }, () => search('solana outage')));
    assert.equal(calls('solana outage'), 1);
  });

  test('the cache is bounded: the least recently asked question is forgotten', async () => {
    // Two entries: "ethereum merge" and "solana outage" are the most recent; "bitcoin etf" was evicted.
    await search('bitcoin etf');
    assert.equal(calls('bitcoin etf'), 2);
    await search('solana outage');
    assert.equal(calls('solana outage'), 1, 'still remembered');
  });
});
