import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
// As a user of the package imports it: through the workspace's package name, not a relative path.
import { createClient, type Schema } from '@markets-api/client';
import { killServers, run, type ServerProcess, serverEnv, startServer } from './helpers/server-process.ts';

/**
 * The README's walkthrough (token, create, list, trade, resolve) through the typed client against
 * a real `node src/server.ts` listening on loopback: the client's paths, bodies and answers are
 * the server's, not a mock's.
 */
describe('the typed client runs the README walkthrough against a real server', () => {
  let dataDir: string;
  let server: ServerProcess;
  let env: Record<string, string>;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'markets-client-'));
    env = serverEnv({ DATA_DIR: dataDir, WORKERS: 'false' });
    server = await startServer(env, 120_000);
  });
  after(async () => {
    await server?.stop('SIGTERM').catch(() => {});
    killServers();
    await rm(dataDir, { recursive: true, force: true });
  });

  test('token, create, list, trade, resolve; an error answers the envelope', async () => {
    // 1. A token, as the README makes it.
    const made = await run('scripts/token.ts', ['--email', 'ada@example.com', '--role', 'admin'], env);
    assert.equal(made.code, 0, made.stderr);
    const token = made.stdout.trim().split('\n').at(-1)!;

    // 2. Create (the README's market).
    const api = createClient({ baseUrl: server.url, token });
    const created = await api.POST('/api/markets', {
      body: {
        name: 'Will it snow in Lisbon this winter?',
        category: 'weather',
        tags: ['lisbon'],
        closesAt: '2027-03-01T00:00:00Z',
        liquidity: 100,
        initialPosition: { outcome: 'NO', amount: 25 },
      },
    });
    assert.equal(created.response.status, 201, JSON.stringify(created.error));
    const market: Schema<'Market'> = created.data!.data;
    assert.equal(market.slug, 'will-it-snow-in-lisbon-this-winter');
    assert.ok(market.probability < 0.5, 'the initial NO position moved the price');

    // 3. List, as the README does (no token needed: a client without one).
    const anonymous = createClient({ baseUrl: server.url });
    const listed = await anonymous.GET('/api/markets', {
      params: { query: { status: 'active', sort: 'volume', limit: 5, include: 'creator' } },
    });
    assert.equal(listed.response.status, 200);
    const first = listed.data!.data[0]!;
    assert.equal(first.id, market.id);
    assert.equal(first.creator?.name, 'ada');

    // 4. Trade.
    const traded = await api.POST('/api/markets/{id}/trades', {
      params: { path: { id: market.id } },
      body: { outcome: 'YES', side: 'buy', amount: 10 },
    });
    assert.equal(traded.response.status, 201, JSON.stringify(traded.error));
    assert.ok(traded.data!.data.market.probability > market.probability, 'buying YES raised it');

    // 5. Resolve.
    const resolved = await api.POST('/api/markets/{id}/resolve', {
      params: { path: { id: market.id } },
      body: { outcome: 'YES' },
    });
    assert.equal(resolved.response.status, 200, JSON.stringify(resolved.error));
    const after = await anonymous.GET('/api/markets/{id}', { params: { path: { id: market.slug } } });
    assert.equal(after.data!.data.status, 'resolved');
    assert.equal(after.data!.data.outcome, 'YES');

    // An error is the envelope, typed as such.
    const refused = await anonymous.POST('/api/markets/{id}/trades', {
      params: { path: { id: market.id } },
      body: { outcome: 'YES', side: 'buy', amount: 1 },
    });
    assert.equal(refused.response.status, 401);
    assert.equal(refused.error?.success, false);
    assert.equal(refused.error?.code, 'UNAUTHORIZED');
    assert.equal(typeof refused.error?.requestId, 'string');
  });
});
