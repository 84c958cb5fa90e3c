import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { buildTestApp, TEST_JWT_SECRET, type TestApp } from './helpers/build-app.ts';
import { databaseKinds } from './helpers/databases.ts';
import { marketBody } from './helpers/factories.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const BODY_LIMIT = 4096;

type Log = Record<string, unknown>;

/** The failure envelope of DESIGN.md, and nothing else. */
function assertEnvelope(
  res: { statusCode: number; headers: Record<string, unknown>; json(): Log },
  status: number,
  code: string,
) {
  assert.equal(res.statusCode, status);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  const body = res.json();
  assert.equal(body.success, false);
  assert.equal(body.code, code);
  assert.equal(typeof body.error, 'string');
  assert.equal(body.requestId, res.headers['x-request-id']);
  for (const key of Object.keys(body))
    assert.ok(['success', 'error', 'code', 'details', 'requestId'].includes(key), key);
  return body;
}

for (const kind of databaseKinds()) {
  describe(`HTTP errors, request ids and logs (${kind})`, () => {
    let t: TestApp;
    let alice: Awaited<ReturnType<TestApp['user']>>;
    const tokensUsed: string[] = [];

    const count = async () =>
      Number(
        (
          await t.database.db
            .selectFrom('markets')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    const post = (
      payload: string,
      contentType = 'application/json',
      headers: Record<string, string> = alice.auth,
    ) =>
      t.request({
        method: 'POST',
        url: '/api/markets',
        headers: { ...headers, 'content-type': contentType },
        payload,
      });
    const linesOf = (requestId: string) => t.logs.filter((l) => l.requestId === requestId);

    before(async () => {
      t = await buildTestApp(kind, { BODY_LIMIT: String(BODY_LIMIT) });
      alice = await t.user('user', 'Alice');
      tokensUsed.push(alice.token);
    });
    after(() => t.close());

    test('malformed or empty JSON is a 400 INVALID_JSON and creates nothing', async () => {
      const before = await count();
      for (const payload of ['{"name": "Will it', '{name: 1}', '', '{"__proto__": {"admin": true}}']) {
        const body = assertEnvelope(await post(payload), 400, 'INVALID_JSON');
        assert.doesNotMatch(
          String(body.error),
          /Unexpected token|position|SyntaxError/,
          'no parser internals',
        );
      }
      assert.equal(await count(), before);
    });

    test('a body that is not JSON is a 415, whatever its content type', async () => {
      const before = await count();
      for (const type of [
        'text/plain',
        'application/xml',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
      ]) {
        assertEnvelope(await post(JSON.stringify(marketBody()), type), 415, 'UNSUPPORTED_MEDIA_TYPE');
      }
      const charset = await post(JSON.stringify(marketBody()), 'application/json; charset=utf-8');
      assert.equal(charset.statusCode, 201, 'application/json with a charset is fine');
      assert.equal(await count(), before + 1);
    });

    test(`a body over BODY_LIMIT (${BODY_LIMIT} bytes) is a 413 and creates nothing; one just under passes`, async () => {
      const before = await count();
      const big = JSON.stringify(marketBody({ description: 'x'.repeat(BODY_LIMIT) }));
      assertEnvelope(await post(big), 413, 'PAYLOAD_TOO_LARGE');
      // Credentials are checked before a body is read: a stranger's big body is a 401, never parsed.
      assertEnvelope(await post(big, 'application/json', {}), 401, 'UNAUTHORIZED');
      const fits = JSON.stringify(marketBody({ description: 'x'.repeat(BODY_LIMIT - 600) }));
      assert.ok(Buffer.byteLength(fits) < BODY_LIMIT);
      assert.equal((await post(fits)).statusCode, 201);
      assert.equal(await count(), before + 1);
    });

    test('Zod issues come back in details, one per problem, with the field path', async () => {
      const res = await post(
        JSON.stringify(marketBody({ name: 'x', category: 'Not Valid!', tags: 'paris' })),
      );
      const body = assertEnvelope(res, 400, 'VALIDATION_ERROR');
      const paths = (body.details as { path: string[]; in: string; message: string }[]).map((d) =>
        d.path.join('.'),
      );
      for (const field of ['name', 'category', 'tags'])
        assert.ok(paths.includes(field), `${field} in ${paths}`);
      for (const d of body.details as { in: string; message: string }[]) {
        assert.equal(d.in, 'body');
        assert.equal(typeof d.message, 'string');
      }
    });

    test('a malformed id, slug or UUID filter is a 400, never a 500', async () => {
      const cases: [string, string, Record<string, string>?][] = [
        ['GET', '/api/markets/%25%25bad'],
        ['GET', '/api/markets/Not_A_Slug'],
        ['GET', `/api/markets/${'a'.repeat(121)}`],
        ['GET', '/api/markets?creatorId=nope'],
        ['GET', '/api/markets?creatorId=00000000-0000-0000-0000-00000000000g'],
        ['PATCH', '/api/markets/%25%25bad', alice.auth],
        ['DELETE', '/api/markets/bad%20slug', alice.auth],
      ];
      for (const [method, url, headers] of cases) {
        const res = await t.request({
          method: method as 'GET',
          url,
          headers,
          payload: method === 'PATCH' ? { name: 'Renamed' } : undefined,
        });
        assertEnvelope(res, 400, 'VALIDATION_ERROR');
      }
      // Failures before routing: undecodable percent-encoding, a parameter over the router's limit.
      for (const url of ['/api/markets/%zz', '/api/markets/%E0%A4%A', `/api/markets/${'a'.repeat(300)}`]) {
        const res = await t.request({ method: 'GET', url });
        assertEnvelope(res, 400, 'BAD_REQUEST');
        assert.match(String(res.headers['x-request-id']), UUID);
      }
      const unknown = await t.request({
        method: 'GET',
        url: '/api/markets/00000000-0000-4000-8000-000000000000',
      });
      assertEnvelope(unknown, 404, 'NOT_FOUND');
    });

    test('a NUL character in text is a 400 that changes nothing and logs no error', async () => {
      const before = await count();
      const created = await post(JSON.stringify(marketBody({ name: 'Will NUL \u0000 bytes pass?' })));
      assertEnvelope(created, 400, 'BAD_REQUEST');
      assert.match(created.json().error, /NUL/);
      assert.equal(await count(), before);
      const searched = await t.request({ method: 'GET', url: '/api/markets/search?q=a%00b' });
      assertEnvelope(searched, 400, 'BAD_REQUEST');
      for (const res of [created, searched]) {
        const lines = linesOf(String(res.headers['x-request-id']));
        assert.deepEqual(
          lines.map((l) => l.level),
          [40],
          'one warn line (the request), no error',
        );
      }
    });

    test('an unknown route or method is a 404 in the envelope', async () => {
      for (const [method, url] of [
        ['GET', '/nope'],
        ['GET', '/api/market'],
        ['POST', '/api/markets/some-slug'],
        ['PATCH', '/api/markets'],
      ] as const) {
        const body = assertEnvelope(await t.request({ method, url }), 404, 'NOT_FOUND');
        assert.match(String(body.error), /not found/);
      }
    });

    test('an unexpected failure is a 500 that reveals nothing, and its stack is logged with the request id', async () => {
      // A schema that drifted under the running app (a column renamed by hand) is the kind of
      // bug that ends in a 500; the database's own message names the column.
      await sql`alter table markets rename column volume to volume_moved`.execute(t.database.db);
      let res: Awaited<ReturnType<TestApp['request']>>;
      try {
        res = await t.request({
          method: 'GET',
          url: '/api/markets',
          headers: { 'x-request-id': 'boom-500', ...alice.auth },
        });
      } finally {
        await sql`alter table markets rename column volume_moved to volume`.execute(t.database.db);
      }
      const body = assertEnvelope(res, 500, 'INTERNAL_ERROR');
      assert.equal(body.error, 'Internal server error');
      assert.equal(body.requestId, 'boom-500');
      assert.doesNotMatch(res.body, /volume|column|select|stack|at /i);

      const lines = linesOf('boom-500');
      const error = lines.find((l) => l.err);
      assert.ok(error, 'an error line with the request id');
      assert.equal(error.level, 50);
      const err = error.err as { stack: string; message: string };
      assert.match(err.message, /volume/);
      assert.match(err.stack, /\n\s+at /, 'the stack trace');
      const done = lines.find((l) => l.msg === 'request completed');
      assert.equal(done?.status, 500);
      assert.equal(
        (await t.request({ method: 'GET', url: '/api/markets' })).statusCode,
        200,
        'the app recovers',
      );
    });

    test('x-request-id: a sane incoming id is echoed on every response, anything else is replaced by a UUID', async () => {
      const requests = [
        { method: 'GET', url: '/api/markets' },
        { method: 'GET', url: '/nope' },
        { method: 'GET', url: '/api/markets?limit=0' },
        { method: 'GET', url: '/api/markets/%zz' },
        { method: 'POST', url: '/api/markets', payload: '{}', headers: { 'content-type': 'text/plain' } },
        { method: 'POST', url: '/api/markets', payload: marketBody() },
        { method: 'GET', url: '/healthz' },
      ] as const;
      for (const id of ['abc-123', 'trace.id:42_x', 'a'.repeat(128)]) {
        for (const r of requests) {
          const res = await t.request({
            ...r,
            headers: { ...('headers' in r ? r.headers : {}), 'x-request-id': id },
          });
          assert.equal(res.headers['x-request-id'], id, `${r.method} ${r.url}`);
          if (res.statusCode >= 400) assert.equal(res.json().requestId, id);
        }
      }
      const seen = new Set<string>();
      for (const id of ['a'.repeat(129), 'has space', '<script>alert(1)</script>', 'a/b', '"quoted"', '']) {
        for (const r of requests) {
          const res = await t.request({
            ...r,
            headers: { ...('headers' in r ? r.headers : {}), 'x-request-id': id },
          });
          const echoed = String(res.headers['x-request-id']);
          assert.match(echoed, UUID, `${JSON.stringify(id)} on ${r.method} ${r.url}`);
          assert.ok(!seen.has(echoed), 'a new id each time');
          seen.add(echoed);
        }
      }
      const none = await t.request({ method: 'GET', url: '/api/markets' });
      assert.match(String(none.headers['x-request-id']), UUID);
    });

    test('each finished request leaves exactly one log line with id, method, route pattern, status, duration and user', async () => {
      const m = (await post(JSON.stringify(marketBody()))).json().data;
      const cases = [
        {
          id: 'log-get',
          method: 'GET',
          url: `/api/markets/${m.slug}`,
          route: '/api/markets/:id',
          status: 200,
          level: 30,
        },
        {
          id: 'log-patch',
          method: 'PATCH',
          url: `/api/markets/${m.id}`,
          route: '/api/markets/:id',
          status: 200,
          level: 30,
          user: alice.id,
          payload: { name: 'Renamed for the log' },
        },
        {
          id: 'log-401',
          method: 'DELETE',
          url: `/api/markets/${m.id}`,
          route: '/api/markets/:id',
          status: 401,
          level: 40,
        },
        { id: 'log-404', method: 'GET', url: '/no/such/route', route: 'not-found', status: 404, level: 40 },
        {
          id: 'log-bad-url',
          method: 'GET',
          url: '/api/markets/%zz',
          route: 'unroutable',
          status: 400,
          level: 40,
        },
      ] as const;
      for (const c of cases) {
        const headers: Record<string, string> = { 'x-request-id': c.id, ...('user' in c ? alice.auth : {}) };
        const res = await t.request({
          method: c.method,
          url: c.url,
          headers,
          payload: 'payload' in c ? c.payload : undefined,
        });
        assert.equal(res.statusCode, c.status, c.id);
        const lines = linesOf(c.id).filter((l) => l.msg === 'request completed');
        assert.equal(lines.length, 1, c.id);
        const line = lines[0]!;
        assert.equal(line.method, c.method);
        assert.equal(line.route, c.route, 'the pattern, not the raw URL');
        assert.equal(line.status, c.status);
        assert.equal(line.level, c.level);
        assert.equal(typeof line.durationMs, 'number');
        assert.ok((line.durationMs as number) >= 0);
        assert.equal(line.userId, 'user' in c ? c.user : undefined, c.id);
      }
    });

    test('no token and no secret ever reaches the logs', async () => {
      const m = (await post(JSON.stringify(marketBody()))).json().data;
      const forged = await t.sign({ sub: alice.id, email: alice.email, role: 'admin' }, 3600);
      tokensUsed.push(forged);
      const wrongKey = `${forged.slice(0, forged.lastIndexOf('.'))}.c2lnbmF0dXJlLWZyb20tYW5vdGhlci1rZXk`;
      tokensUsed.push(wrongKey);
      for (const token of tokensUsed) {
        const auth = { authorization: `Bearer ${token}` };
        await t.request({
          method: 'PATCH',
          url: `/api/markets/${m.id}`,
          headers: auth,
          payload: { name: 'Patched with a token' },
        });
        await t.request({
          method: 'PATCH',
          url: `/api/markets/${m.id}`,
          headers: auth,
          payload: '{bad json',
        });
        await t.request({ method: 'GET', url: '/nope', headers: auth });
      }
      const text = JSON.stringify(t.logs);
      assert.ok(t.logs.length > 20, 'the logs were captured');
      for (const token of tokensUsed) {
        assert.ok(!text.includes(token), 'a full token');
        assert.ok(!text.includes(token.split('.')[2]!), 'a token signature');
      }
      assert.ok(!text.includes(TEST_JWT_SECRET), 'the JWT secret');
    });
  });
}

describe('LOG_LEVEL', () => {
  let t: TestApp;
  before(async () => {
    t = await buildTestApp('pglite', { LOG_LEVEL: 'warn' });
  });
  after(() => t.close());

  test('LOG_LEVEL=warn drops the lines of successful requests and keeps those of failures', async () => {
    await t.request({ method: 'GET', url: '/api/markets', headers: { 'x-request-id': 'quiet-ok' } });
    await t.request({ method: 'GET', url: '/api/markets?limit=0', headers: { 'x-request-id': 'loud-400' } });
    assert.equal(t.logs.filter((l) => l.requestId === 'quiet-ok').length, 0);
    assert.equal(t.logs.filter((l) => l.requestId === 'loud-400').length, 1);
  });
});
