import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { createLocalEmbedder } from '../src/lib/embeddings/local-embedder.ts';
import { createOpenAiEmbedder, type OpenAiEmbedderOptions } from '../src/lib/embeddings/openai-embedder.ts';
import { type HttpError, parseRetryAfter } from '../src/lib/retry.ts';
import { type Behaviour, startFakeEmbeddingsServer } from './helpers/fake-embeddings-server.ts';

const cosine = (a: number[], b: number[]) => a.reduce((sum, x, i) => sum + x * b[i]!, 0);

describe('local embedder', () => {
  const embedder = createLocalEmbedder(256);

  test('is deterministic, has the configured dimensions and unit length', async () => {
    const [a, b] = await embedder.embed(['Will Bitcoin hit $200k?', 'Will Bitcoin hit $200k?']);
    assert.deepEqual(a, b);
    assert.equal(a!.length, 256);
    assert.ok(Math.abs(Math.hypot(...a!) - 1) < 1e-9);
  });

  test('shared words and spellings bring texts closer; it knows nothing of meaning', async () => {
    const [query, sameWords, misspelt, unrelated, synonym] = await embedder.embed([
      'presidential election winner',
      'Who wins the presidential election?',
      'presidental elections',
      'Will it rain in Paris tomorrow?',
      'ballot victor for head of state',
    ]);
    assert.ok(cosine(query!, sameWords!) > 0.5);
    assert.ok(cosine(query!, misspelt!) > cosine(query!, unrelated!) + 0.2);
    // Same meaning, no shared words: no better than unrelated text. The README says so.
    assert.ok(cosine(query!, synonym!) < 0.2);
  });
});

describe('OpenAI-compatible embedder', () => {
  const servers: { close(): Promise<void> }[] = [];
  after(() => Promise.all(servers.map((s) => s.close())));

  async function setup(decide: (index: number) => Behaviour, overrides: Partial<OpenAiEmbedderOptions> = {}) {
    const server = await startFakeEmbeddingsServer(8, (_request, index) => decide(index));
    servers.push(server);
    const retries: { attempt: number; delayMs: number; reason: string }[] = [];
    const embedder = createOpenAiEmbedder({
      url: server.url,
      apiKey: 'sk-test',
      model: 'test-model',
      dimensions: 8,
      timeoutMs: 1000,
      maxRetries: 3,
      batchSize: 2,
      baseDelayMs: 40,
      onRetry: (info) => retries.push(info),
      ...overrides,
    });
    return { server, embedder, retries };
  }

  test('batches several texts per request, keeps input order, sends the key', async () => {
    const { server, embedder } = await setup(() => ({ kind: 'ok' }));
    const texts = ['alpha', 'beta', 'gamma', 'delta', 'epsilon'];
    const vectors = await embedder.embed(texts);
    assert.equal(vectors.length, 5);
    assert.deepEqual(
      server.requests.map((r) => r.input),
      [['alpha', 'beta'], ['gamma', 'delta'], ['epsilon']],
    );
    assert.equal(server.requests[0]!.authorization, 'Bearer sk-test');
    const [alone] = await embedder.embed(['gamma']);
    assert.deepEqual(vectors[2], alone);
  });

  test('retries 5xx with growing, jittered delays, then succeeds', async () => {
    const { server, embedder, retries } = await setup((i) =>
      i < 2 ? { kind: 'status', status: 503, body: { error: { message: 'busy' } } } : { kind: 'ok' },
    );
    await embedder.embed(['x']);
    assert.equal(server.requests.length, 3);
    assert.deepEqual(
      retries.map((r) => r.reason),
      ['HTTP 503', 'HTTP 503'],
    );
    // Equal jitter: retry n waits between base·2^(n-1)/2… and base·2^(n-1).
    assert.ok(retries[0]!.delayMs >= 20 && retries[0]!.delayMs <= 40);
    assert.ok(retries[1]!.delayMs >= 40 && retries[1]!.delayMs <= 80);
  });

  test('honours Retry-After on 429', async () => {
    const { embedder, retries } = await setup((i) =>
      i === 0 ? { kind: 'status', status: 429, body: {}, headers: { 'retry-after': '1' } } : { kind: 'ok' },
    );
    const started = Date.now();
    await embedder.embed(['x']);
    assert.equal(retries[0]!.delayMs, 1000);
    assert.ok(Date.now() - started >= 950);
  });

  test('never retries another 4xx, and reports the provider message', async () => {
    const { server, embedder } = await setup(() => ({
      kind: 'status',
      status: 401,
      body: { error: { message: 'Incorrect API key provided' } },
    }));
    await assert.rejects(embedder.embed(['x']), (error: HttpError) => {
      assert.equal(error.status, 401);
      assert.match(error.message, /Incorrect API key provided/);
      return true;
    });
    assert.equal(server.requests.length, 1);
  });

  test('a hung request times out and is retried', async () => {
    const { server, embedder, retries } = await setup((i) => (i === 0 ? { kind: 'hang' } : { kind: 'ok' }), {
      timeoutMs: 200,
    });
    await embedder.embed(['x']);
    assert.equal(server.requests.length, 2);
    assert.match(retries[0]!.reason, /timed out after 200 ms/);
  });

  test('gives up after the retry budget with the last reason', async () => {
    const { server, embedder } = await setup(() => ({ kind: 'status', status: 500, body: 'boom' }), {
      maxRetries: 2,
    });
    await assert.rejects(embedder.embed(['x']), /HTTP 500/);
    assert.equal(server.requests.length, 3);
  });

  test('a response with the wrong number of dimensions is an error, not a corrupt vector', async () => {
    const { embedder } = await setup(() => ({ kind: 'ok' }), { dimensions: 12 });
    await assert.rejects(embedder.embed(['x']), /returned 8 dimensions, expected 12/);
  });
});

test('Retry-After is read as seconds or as an HTTP date', () => {
  assert.equal(parseRetryAfter('3'), 3000);
  assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4000), 6000);
  assert.equal(parseRetryAfter('soon'), undefined);
  assert.equal(parseRetryAfter(null), undefined);
});
