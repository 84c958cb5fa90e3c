import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { eventually } from './helpers/eventually.ts';
import { startFakeEmbeddingsServer } from './helpers/fake-embeddings-server.ts';

const TIMEOUT_MS = 1500;

describe('search while the embeddings provider hangs', () => {
  let t: TestApp;
  let provider: Awaited<ReturnType<typeof startFakeEmbeddingsServer>>;
  let hang = false;

  before(async () => {
    provider = await startFakeEmbeddingsServer(8, () => (hang ? { kind: 'hang' } : { kind: 'ok' }));
    // PGlite has pgvector: search is hybrid while the provider answers.
    t = await buildTestApp('pglite', {
      EMBEDDINGS_PROVIDER: 'openai',
      EMBEDDINGS_URL: provider.url,
      EMBEDDINGS_API_KEY: 'sk-test',
      EMBEDDING_DIMENSIONS: '8',
      EMBEDDINGS_TIMEOUT_MS: String(TIMEOUT_MS),
      EMBEDDINGS_MAX_RETRIES: '3',
      EMBEDDINGS_CIRCUIT_COOL_DOWN_MS: '200',
      // Every search asks the provider (the same question would otherwise be answered from memory).
      SEARCH_QUERY_EMBEDDING_CACHE_SIZE: '0',
      WORKERS: '0',
    });
  });
  after(async () => {
    await t?.close();
    await provider?.close();
  });

  const search = () => t.request({ method: 'GET', url: '/api/markets/search?q=bitcoin' });
  const searchesSent = () => provider.requests.filter((r) => r.input[0] === 'bitcoin').length;

  test('searches fall back to full text at once after one timeout, and go hybrid again when it answers', async () => {
    assert.equal((await search()).json().meta.mode, 'hybrid');

    hang = true;
    const first = await search();
    assert.equal(first.statusCode, 200, 'the semantic half is lost, not the answer');
    assert.equal(first.json().meta.mode, 'fulltext');
    // One attempt timed out and opened the circuit; the retries were not sent.
    assert.equal(searchesSent(), 2, 'one attempt for the hung search');

    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      const res = await search();
      assert.equal(res.statusCode, 200);
      assert.equal(res.json().meta.mode, 'fulltext');
      assert.ok(
        performance.now() - started < TIMEOUT_MS,
        'no wait for the provider while its circuit is open',
      );
    }
    assert.equal(searchesSent(), 2, 'no search reached the provider while its circuit was open');
    // Long enough for a probe to time out: a probe that gets no answer keeps the circuit open.
    await sleep(TIMEOUT_MS + 700);
    assert.ok(
      provider.requests.some((r) => r.input[0] === 'ping'),
      'probed in the background',
    );
    const ready = await t.request({ method: 'GET', url: '/readyz' });
    assert.equal(ready.json().circuits.embeddings, 'open');
    assert.match(
      (await t.request({ method: 'GET', url: '/metrics' })).body,
      /circuit_breaker_open\{dependency="embeddings"\} 1/,
    );

    hang = false;
    await eventually(
      async () =>
        (await t.request({ method: 'GET', url: '/readyz' })).json().circuits.embeddings === 'closed',
      10_000,
      'a background probe closes the circuit',
    );
    assert.equal((await search()).json().meta.mode, 'hybrid');
    const opened = t.logs.filter((l) => String(l.msg).startsWith('embeddings timed out: circuit open'));
    assert.equal(opened.length, 1, 'the opening is logged once, not per probe or per search');
  });
});
