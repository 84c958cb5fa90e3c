import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Fastify from 'fastify';
import { createAuthenticator } from '../src/modules/auth/authenticator.ts';
import { createCallerResolver } from '../src/modules/auth/caller.ts';
import { SCOPE_NAMES } from '../src/modules/auth/scopes.ts';
import { authPlugin } from '../src/plugins/auth.ts';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';

describe('every /api route declares who may call it', () => {
  let t: TestApp;
  let doc: { paths: Record<string, Record<string, Record<string, unknown>>> };

  before(async () => {
    t = await buildTestApp('pglite');
    doc = (await t.request({ method: 'GET', url: '/openapi.json' })).json();
  });
  after(() => t.close());

  const operations = () =>
    Object.entries(doc.paths)
      .filter(([path]) => path.startsWith('/api'))
      .flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ path, method, op })));

  test('the OpenAPI document states the permission of every /api operation', () => {
    const ops = operations();
    assert.ok(ops.length >= 15, `found ${ops.length} operations`);
    for (const { path, method, op } of ops) {
      const where = `${method.toUpperCase()} ${path}`;
      assert.ok(['public', 'read', 'write', 'delete', 'admin'].includes(op['x-permission'] as string), where);
      if (op['x-permission'] === 'public') {
        assert.deepEqual(op.security, [], `${where} is public`);
      } else {
        const scope = (op.security as { bearerAuth?: string[] }[])[0]?.bearerAuth?.[0];
        assert.ok(scope && (SCOPE_NAMES as string[]).includes(scope), `${where} names its API-key scope`);
        assert.deepEqual(op.security, [{ bearerAuth: [scope] }, { apiKeyAuth: [scope] }], where);
        assert.match(op.description as string, new RegExp(`the \`${scope}\` scope`), where);
        assert.ok(Array.isArray(op['x-roles']) && (op['x-roles'] as string[]).length > 0, where);
        assert.ok((op.responses as Record<string, unknown>)['401'], `${where} documents its 401`);
      }
    }
  });

  test('the document matches the role table: who may call admin, write and public routes', () => {
    const op = (method: string, path: string) => doc.paths[path]![method]!;
    assert.equal(op('get', '/api/users')['x-permission'], 'admin');
    assert.deepEqual(op('get', '/api/users')['x-roles'], ['admin']);
    assert.deepEqual(op('post', '/api/markets')['x-roles'], ['admin', 'moderator', 'user']);
    assert.equal(op('post', '/api/auth/login')['x-permission'], 'public');
    assert.equal(op('get', '/api/markets')['x-permission'], 'public');
    assert.match(op('get', '/api/users').description as string, /admin/);
    const schemes = (doc as unknown as { components: { securitySchemes: Record<string, unknown> } })
      .components.securitySchemes;
    assert.deepEqual(Object.keys(schemes).sort(), ['apiKeyAuth', 'bearerAuth']);
  });

  test('an /api route that forgets to declare a permission or a scope fails at startup, not in production', async () => {
    const app = Fastify();
    const authenticator = createAuthenticator({
      tokens: { verify: async () => assert.fail('not called') },
      users: {} as never,
      apiKeys: {} as never,
    });
    try {
      await app.register(authPlugin, { resolveCaller: createCallerResolver(authenticator) });
      app.get('/healthz-like', async () => 'fine outside /api');
      app.get('/api/declared', { config: { permission: 'public' } }, async () => 'declared');
      assert.throws(
        () => app.get('/api/forgotten', async () => 'open door'),
        /GET \/api\/forgotten must declare config.permission/,
      );
      assert.throws(
        () => app.post('/api/unscoped', { config: { permission: 'write' } }, async () => 'any key'),
        /POST \/api\/unscoped must declare config.scope/,
      );
      assert.throws(
        () =>
          app.get(
            '/api/too-strong',
            { config: { permission: 'read', scope: 'admin' } },
            async () => 'no key',
          ),
        /scope "admin" is not within permission "read"/,
      );
    } finally {
      await app.close();
    }
  });
});
