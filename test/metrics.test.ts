import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { backgroundQuiet } from './helpers/eventually.ts';
import { marketBody } from './helpers/factories.ts';

/** The value of one sample line in Prometheus text, e.g. `cache_hits_total` or `name{labels}`. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const set = match[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => set.includes(`${k}="${v}"`))) return Number(match[3]);
  }
  return undefined;
}

describe('metrics', () => {
  let t: TestApp;
  before(async () => {
    t = await buildTestApp('pglite', { RATE_LIMIT_PER_MINUTE: '0' });
  });
  after(() => t.close());

  const scrape = async () => {
    const res = await t.request({ method: 'GET', url: '/metrics' });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain/);
    return res.body;
  };

  test('/metrics counts requests per route template and status, with a latency histogram', async () => {
    const alice = await t.user();
    const { id } = (
      await t.request({ method: 'POST', url: '/api/markets', headers: alice.auth, payload: marketBody() })
    ).json().data;
    await t.request({ method: 'GET', url: `/api/markets/${id}` });
    await t.request({ method: 'GET', url: `/api/markets/${id}` });
    await t.request({ method: 'GET', url: '/no/such/route' });
    const text = await scrape();
    const route = { method: 'GET', route: '/api/markets/:id', status: '200' };
    assert.equal(sample(text, 'http_requests_total', route), 2);
    assert.equal(sample(text, 'http_request_duration_seconds_count', route), 2);
    assert.equal(sample(text, 'http_requests_total', { route: 'not-found', status: '404' }), 1);
    assert.ok(!text.includes('/no/such/route'), 'unknown URLs do not become labels');
  });

  test('/metrics exports cache hits, misses and errors, and database queries', async () => {
    const alice = await t.user();
    const { id } = (
      await t.request({ method: 'POST', url: '/api/markets', headers: alice.auth, payload: marketBody() })
    ).json().data;
    // The streams read the event log after the creation's commit: those reads are not the GETs'.
    await backgroundQuiet(t.database.stats);
    const before = await scrape();
    await t.request({ method: 'GET', url: `/api/markets/${id}` }); // miss
    await t.request({ method: 'GET', url: `/api/markets/${id}` }); // hit
    await t.request({ method: 'GET', url: `/api/markets/${id}` }); // hit
    const text = await scrape();
    const delta = (name: string) => sample(text, name)! - sample(before, name)!;
    assert.equal(delta('cache_misses_total'), 1);
    assert.equal(delta('cache_hits_total'), 2);
    assert.equal(delta('cache_errors_total'), 0);
    assert.equal(delta('db_queries_total'), 1);
    assert.equal(sample(text, 'db_queries_total'), t.database.stats.queries);
  });
});
