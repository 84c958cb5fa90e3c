import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { databaseKinds } from './helpers/databases.ts';
import { createMarket, type TestUser } from './helpers/trading.ts';

/** Issue 15 item 6: managing subscriptions, and the URLs refused at creation. */
for (const kind of databaseKinds()) {
  describe(`webhook subscriptions (${kind})`, () => {
    let t: TestApp;
    let alice: TestUser;
    let bob: TestUser;
    let admin: TestUser;
    let marketId: string;

    before(async () => {
      // The operator's defaults: https only, public addresses only, no workers needed here.
      t = await buildTestApp(kind, { WORKERS: 'false' });
      alice = await t.user();
      bob = await t.user();
      admin = await t.user('admin');
      marketId = (await createMarket(t, alice)).id;
    });
    after(() => t?.close());

    const create = (user: TestUser, payload: Record<string, unknown>) =>
      t.request({ method: 'POST', url: '/api/me/webhooks', headers: user.auth, payload });
    const webhookCount = async () =>
      Number(
        (
          await t.database.db
            .selectFrom('webhookSubscriptions')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );

    test('URLs that are not https to a public address are refused at creation, and nothing is stored', async () => {
      const before = await webhookCount();
      const refused: [string, RegExp][] = [
        ['not a url', /not an absolute URL/],
        ['ftp://example.com/hook', /must use https, not ftp/],
        ['http://example.com/hook', /must use https/],
        ['https://127.0.0.1/hook', /127\.0\.0\.1 is a loopback address/],
        ['https://10.1.2.3/hook', /10\.1\.2\.3 is a private address/],
        ['https://169.254.169.254/latest/meta-data', /169\.254\.169\.254 is a link-local/],
        ['https://[::1]/hook', /::1 is a loopback address/],
        ['https://[::ffff:127.0.0.1]/hook', /IPv4-embedding/],
        ['https://[fd00::1]/hook', /private address/],
        ['https://0x7f000001/hook', /127\.0\.0\.1 is a loopback/],
        ['https://localhost/hook', /loopback/],
        ['https://user:pass@example.com/hook', /credentials/],
      ];
      for (const [url, message] of refused) {
        const res = await create(admin, { url, events: ['trade.created'] });
        assert.equal(res.statusCode, 400, `${url}: ${res.body}`);
        assert.equal(res.json().code, 'WEBHOOK_URL_REFUSED', url);
        assert.match(res.json().error, message, url);
        assert.ok(res.json().requestId);
      }
      assert.equal(await webhookCount(), before);
    });

    test('unknown event types and unknown markets are refused with a clear 400', async () => {
      let res = await create(admin, { url: 'https://93.184.215.14/hook', events: ['trade.create'] });
      assert.equal(res.statusCode, 400, res.body);
      assert.match(res.body, /must be one of market\.created/);
      res = await create(alice, {
        url: 'https://93.184.215.14/hook',
        events: ['trade.created'],
        markets: ['00000000-0000-4000-8000-000000000000'],
      });
      assert.equal(res.statusCode, 400, res.body);
      assert.equal(res.json().code, 'UNKNOWN_MARKET');
    });

    test('only admins may subscribe to every market; others name theirs', async () => {
      let res = await create(alice, { url: 'https://93.184.215.14/hook', events: ['*'] });
      assert.equal(res.statusCode, 403, res.body);
      assert.match(res.json().error, /Only admins may subscribe to every market/);
      res = await create(admin, { url: 'https://93.184.215.14/all', events: ['*'] });
      assert.equal(res.statusCode, 201, res.body);
      assert.equal(res.json().data.markets, null);
      res = await create(alice, {
        url: 'https://93.184.215.14/mine',
        events: ['trade.*'],
        markets: [marketId],
      });
      assert.equal(res.statusCode, 201, res.body);
      assert.deepEqual(res.json().data.markets, [marketId]);
    });

    test('the secret is shown at creation and at rotation only; another user sees nothing of it', async () => {
      const res = await create(alice, {
        url: 'https://93.184.215.14/rotate',
        events: ['trade.created', 'market.resolved'],
        markets: [marketId],
      });
      assert.equal(res.statusCode, 201, res.body);
      assert.equal(res.headers['cache-control'], 'no-store');
      const created = res.json().data;
      assert.match(created.secret, /^whsec_[A-Za-z0-9_-]{43}$/);
      assert.equal(created.status, 'active');

      const one = await t.request({
        method: 'GET',
        url: `/api/me/webhooks/${created.id}`,
        headers: alice.auth,
      });
      assert.equal(one.statusCode, 200, one.body);
      assert.equal(one.json().data.secret, undefined);
      assert.equal(one.json().data.url, 'https://93.184.215.14/rotate');
      const list = await t.request({ method: 'GET', url: '/api/me/webhooks', headers: alice.auth });
      assert.ok(list.json().data.some((w: { id: string }) => w.id === created.id));
      assert.doesNotMatch(list.body, /whsec_/);

      const rotated = await t.request({
        method: 'POST',
        url: `/api/me/webhooks/${created.id}/rotate-secret`,
        headers: alice.auth,
      });
      assert.equal(rotated.statusCode, 200, rotated.body);
      assert.match(rotated.json().data.secret, /^whsec_/);
      assert.notEqual(rotated.json().data.secret, created.secret);

      // Bob: every route answers 404 as if it did not exist, and changes nothing.
      for (const [method, url] of [
        ['GET', `/api/me/webhooks/${created.id}`],
        ['DELETE', `/api/me/webhooks/${created.id}`],
        ['POST', `/api/me/webhooks/${created.id}/rotate-secret`],
        ['POST', `/api/me/webhooks/${created.id}/enable`],
        ['GET', `/api/me/webhooks/${created.id}/deliveries`],
      ] as const) {
        const r = await t.request({ method, url, headers: bob.auth });
        assert.equal(r.statusCode, 404, `${method} ${url}: ${r.body}`);
        assert.doesNotMatch(r.body, /whsec_|93\.184/);
      }
      const bobs = await t.request({ method: 'GET', url: '/api/me/webhooks', headers: bob.auth });
      assert.deepEqual(bobs.json().data, []);

      const gone = await t.request({
        method: 'DELETE',
        url: `/api/me/webhooks/${created.id}`,
        headers: alice.auth,
      });
      assert.equal(gone.statusCode, 204);
      const again = await t.request({
        method: 'GET',
        url: `/api/me/webhooks/${created.id}`,
        headers: alice.auth,
      });
      assert.equal(again.statusCode, 404);
    });

    test('anonymous callers get 401', async () => {
      const res = await t.request({ method: 'GET', url: '/api/me/webhooks' });
      assert.equal(res.statusCode, 401);
    });
  });
}
