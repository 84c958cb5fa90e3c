import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { databaseKinds } from './helpers/databases.ts';

interface Operation {
  responses: Record<string, { content?: Record<string, { schema: { $ref?: string } }> }>;
  requestBody?: unknown;
  parameters?: { in: string; name: string }[];
  security?: unknown[];
}
type Spec = { openapi: string; paths: Record<string, Record<string, Operation>> };

/** Every route the service has, with the error statuses a client must be told about. */
const ROUTES: [method: string, path: string, errors: number[]][] = [
  ['get', '/healthz', []],
  ['get', '/readyz', [503]],
  ['get', '/api/markets', [400, 500, 503]],
  ['post', '/api/markets', [400, 401, 403, 409, 413, 415, 500]],
  ['get', '/api/markets/{id}', [400, 404, 500, 503]],
  ['put', '/api/markets/{id}', [400, 401, 403, 404, 409, 412, 413, 415, 500]],
  ['patch', '/api/markets/{id}', [400, 401, 403, 404, 409, 412, 413, 415, 500]],
  ['delete', '/api/markets/{id}', [400, 401, 403, 404, 409, 500]],
];

const operations = (spec: Spec) =>
  Object.entries(spec.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => ({
      method,
      path,
      op,
      name: `${method.toUpperCase()} ${path}`,
    })),
  );

for (const kind of databaseKinds()) {
  describe(`OpenAPI, docs and probes (${kind})`, () => {
    let t: TestApp;
    let spec: Spec;

    before(async () => {
      t = await buildTestApp(kind);
      const res = await t.request({ method: 'GET', url: '/openapi.json' });
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /^application\/json/);
      spec = res.json();
    });
    after(() => t.close());

    test('/openapi.json is OpenAPI 3.1 and lists every route with its error responses', () => {
      assert.match(spec.openapi, /^3\.1\.\d+$/);
      for (const [method, path, errors] of ROUTES) {
        const op = spec.paths[path]?.[method];
        assert.ok(op, `${method.toUpperCase()} ${path} is documented`);
        const statuses = Object.keys(op.responses).map(Number);
        for (const status of errors)
          assert.ok(statuses.includes(status), `${method} ${path} documents ${status}`);
        assert.ok(
          statuses.some((s) => s >= 200 && s < 300),
          `${method} ${path} documents its success`,
        );
      }
      const documented = operations(spec).map((o) => o.name);
      for (const hidden of ['GET /openapi.json', 'GET /docs', 'GET /docs/'])
        assert.ok(!documented.includes(hidden), hidden);
      assert.ok(
        !Object.keys(spec.paths).some((p) => p.length > 1 && p.endsWith('/')),
        'no trailing-slash paths',
      );
    });

    test('every documented API error response is the shared error envelope', () => {
      for (const { name, path, op } of operations(spec)) {
        if (!path.startsWith('/api/')) continue;
        assert.ok(op.responses['500'], `${name} documents 500`);
        for (const [status, response] of Object.entries(op.responses)) {
          if (Number(status) < 400) continue;
          assert.equal(
            response.content?.['application/json']?.schema.$ref,
            '#/components/schemas/Error',
            `${name} ${status}`,
          );
        }
      }
    });

    test('routes document their errors: 401/403 when protected, 400/413/415 with a body, 404 with an id', () => {
      for (const { name, path, op } of operations(spec)) {
        if (!path.startsWith('/api/')) continue;
        const statuses = Object.keys(op.responses);
        const permission = (op as { 'x-permission'?: string })['x-permission'];
        assert.ok(permission, `${name} declares who may call it`);
        if (permission !== 'public') {
          for (const s of ['401', '403']) assert.ok(statuses.includes(s), `${name} documents ${s}`);
        }
        if (op.requestBody) {
          for (const s of ['400', '413', '415']) assert.ok(statuses.includes(s), `${name} documents ${s}`);
        }
        if (path.includes('{id}')) assert.ok(statuses.includes('404'), `${name} documents 404`);
      }
    });

    test('/docs is a browsable reference page served with its script, reading /openapi.json', async () => {
      const redirect = await t.request({ method: 'GET', url: '/docs' });
      assert.equal(redirect.statusCode, 301, 'relative asset URLs need the trailing slash');
      assert.equal(redirect.headers.location, '/docs/');
      const page = await t.request({ method: 'GET', url: '/docs/' });
      assert.equal(page.statusCode, 200);
      assert.match(String(page.headers['content-type']), /^text\/html/);
      assert.match(page.body, /<html/i);
      assert.match(page.body, /\/openapi\.json/);
      const src = /<script src="([^"]+)"/.exec(page.body)?.[1];
      assert.ok(src, 'the page loads a script');
      const script = await t.request({ method: 'GET', url: `/docs/${src}` });
      assert.equal(script.statusCode, 200, 'the script is served locally (no CDN needed)');
      assert.match(String(script.headers['content-type']), /javascript/);
    });

    test('/healthz and /readyz answer 200 while the database is up', async () => {
      const health = await t.request({ method: 'GET', url: '/healthz' });
      assert.equal(health.statusCode, 200);
      assert.equal(health.json().status, 'ok');
      const ready = await t.request({ method: 'GET', url: '/readyz' });
      assert.equal(ready.statusCode, 200);
      assert.deepEqual(ready.json(), { status: 'ok', checks: { database: 'ok', cache: 'ok' } });
      assert.ok(ready.headers['x-request-id']);
    });

    // Last: it closes the database under the running app.
    test('/readyz is a 503 once the database is closed, without leaking why; /healthz stays 200', async () => {
      await t.database.close();
      const ready = await t.request({
        method: 'GET',
        url: '/readyz',
        headers: { 'x-request-id': 'ready-down' },
      });
      assert.equal(ready.statusCode, 503);
      assert.deepEqual(ready.json(), {
        status: 'unavailable',
        checks: { database: 'unavailable', cache: 'ok' },
      });
      const reason = t.logs.find((l) => l.requestId === 'ready-down' && l.err);
      assert.ok(reason, 'the reason is logged');
      assert.equal(reason.level, 40);
      assert.equal((await t.request({ method: 'GET', url: '/healthz' })).statusCode, 200);
    });
  });
}
