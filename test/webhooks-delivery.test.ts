import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { verifyWebhook } from '../scripts/verify-webhook-signature.ts';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { databaseKinds } from './helpers/databases.ts';
import { eventually } from './helpers/eventually.ts';
import { createMarket, type TestUser, trade } from './helpers/trading.ts';
import { type Receiver, startReceiver } from './helpers/webhook-receiver.ts';

/**
 * Issue 15 item 6: deliveries to a real receiver on loopback (allowed here by the operator
 * settings WEBHOOK_HTTP_HOSTS and WEBHOOK_ALLOWED_NETWORKS), with short retry delays.
 */
const ENV = {
  WEBHOOK_HTTP_HOSTS: '127.0.0.1',
  WEBHOOK_ALLOWED_NETWORKS: '127.0.0.1/32',
  WORKER_POLL_INTERVAL_MS: '500',
  WEBHOOK_DISPATCH_INTERVAL_MS: '100',
  WEBHOOK_RETRY_LIMIT: '2',
  WEBHOOK_RETRY_DELAY_MS: '200',
  WEBHOOK_RETRY_DELAY_MAX_MS: '1000',
  WEBHOOK_TIMEOUT_MS: '1500',
  WEBHOOK_DISABLE_AFTER_SECONDS: '5',
  JOB_RETRY_DELAY_SECONDS: '1',
} as const;

interface Delivery {
  id: string;
  eventSeq: number;
  status: string;
  attempts: number;
  lastStatusCode: number | null;
  lastError: string | null;
}

for (const kind of databaseKinds()) {
  describe(`webhook delivery (${kind})`, () => {
    let t: TestApp;
    let alice: TestUser;
    const receivers: Receiver[] = [];

    before(async () => {
      t = await buildTestApp(kind, ENV);
      alice = await t.user();
    });
    after(async () => {
      await t?.close();
      for (const r of receivers) await r.close();
    });

    async function receiver(...args: Parameters<typeof startReceiver>) {
      const r = await startReceiver(...args);
      receivers.push(r);
      return r;
    }

    async function subscribe(url: string, marketId: string, events = ['trade.created']) {
      const res = await t.request({
        method: 'POST',
        url: '/api/me/webhooks',
        headers: alice.auth,
        payload: { url, events, markets: [marketId] },
      });
      assert.equal(res.statusCode, 201, res.body);
      return res.json().data as { id: string; secret: string };
    }

    async function deliveries(id: string): Promise<Delivery[]> {
      const res = await t.request({
        method: 'GET',
        url: `/api/me/webhooks/${id}/deliveries`,
        headers: alice.auth,
      });
      assert.equal(res.statusCode, 200, res.body);
      return res.json().data;
    }

    async function webhook(id: string) {
      const res = await t.request({ method: 'GET', url: `/api/me/webhooks/${id}`, headers: alice.auth });
      return res.json().data as { status: string; disabledReason: string | null };
    }

    async function buy(marketId: string) {
      const res = await trade(t, alice, marketId, { outcome: 'YES', side: 'buy', amount: 5 });
      assert.equal(res.statusCode, 201, res.body);
      return res.json().data as { trade: { id: string } };
    }

    const untilDelivery = async (
      id: string,
      check: (d: Delivery[]) => boolean,
      what: string,
      ms = 20_000,
    ) => {
      await eventually(async () => check(await deliveries(id)), ms, what);
      return deliveries(id);
    };

    test('a trade arrives as a signed trade.created that the README snippet verifies; forgeries and replays fail', async () => {
      const r = await receiver();
      const market = await createMarket(t, alice);
      const sub = await subscribe(r.url, market.id);
      const traded = await buy(market.id);
      await eventually(() => r.received.length === 1, 20_000, 'the delivery');

      const [got] = r.received;
      const body = JSON.parse(got!.body);
      assert.equal(body.type, 'trade.created');
      assert.equal(body.marketId, market.id);
      assert.equal(body.data.trade.id, traded.trade.id);
      assert.equal(got!.headers['content-type'], 'application/json');
      assert.equal(got!.headers['webhook-event'], 'trade.created');
      const header = String(got!.headers['webhook-signature']);
      assert.match(header, /^t=\d+,v1=[0-9a-f]{64}$/);

      assert.equal(verifyWebhook(sub.secret, header, got!.body), true, 'the genuine delivery verifies');
      assert.equal(verifyWebhook(`${sub.secret}x`, header, got!.body), false, 'another secret');
      assert.equal(
        verifyWebhook(sub.secret, header, got!.body.replace('"YES"', '"NO"')),
        false,
        'altered body',
      );
      const t0 = Number(/t=(\d+)/.exec(header)![1]);
      assert.equal(
        verifyWebhook(sub.secret, header.replace(`t=${t0}`, `t=${t0 + 1}`), got!.body),
        false,
        'moved t',
      );
      assert.equal(verifyWebhook(sub.secret, header, got!.body, t0 + 301), false, 'replayed 5 minutes later');
      assert.equal(verifyWebhook(sub.secret, header, got!.body, t0 + 299), true, 'within the tolerance');
      assert.equal(verifyWebhook(sub.secret, `t=${t0}`, got!.body), false, 'no signature');
      assert.equal(verifyWebhook(sub.secret, 'garbage', got!.body), false, 'garbage header');
      assert.equal(verifyWebhook(sub.secret, `t=${t0},v1=${'é'.repeat(32)}`, got!.body), false, 'odd bytes');

      const [delivery] = await untilDelivery(sub.id, (d) => d[0]?.status === 'delivered', 'delivered');
      assert.equal(delivery!.attempts, 1);
      assert.equal(delivery!.lastStatusCode, 200);
      assert.equal(delivery!.eventSeq, body.seq);
    });

    test('after a secret rotation deliveries carry both signatures for the grace period', async () => {
      const r = await receiver();
      const market = await createMarket(t, alice);
      const sub = await subscribe(r.url, market.id);
      const rotated = await t.request({
        method: 'POST',
        url: `/api/me/webhooks/${sub.id}/rotate-secret`,
        headers: alice.auth,
      });
      const fresh = rotated.json().data.secret as string;
      await buy(market.id);
      await eventually(() => r.received.length === 1, 20_000, 'the delivery');
      const header = String(r.received[0]!.headers['webhook-signature']);
      assert.match(header, /^t=\d+,v1=[0-9a-f]{64},v1=[0-9a-f]{64}$/);
      assert.equal(verifyWebhook(fresh, header, r.received[0]!.body), true);
      assert.equal(verifyWebhook(sub.secret, header, r.received[0]!.body), true);
    });

    test('a subscription receives its events in sequence order, one request at a time', async () => {
      let inFlight = 0;
      let maxInFlight = 0;
      const r = await receiver((_d, res) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        setTimeout(() => {
          inFlight--;
          res.end('ok');
        }, 50);
      });
      const market = await createMarket(t, alice);
      await subscribe(r.url, market.id, ['trade.created', 'market.updated']);
      for (let i = 0; i < 6; i++) {
        await buy(market.id);
        if (i === 2) {
          const res = await t.request({
            method: 'PATCH',
            url: `/api/markets/${market.id}`,
            headers: alice.auth,
            payload: { tags: ['edited'] },
          });
          assert.equal(res.statusCode, 200, res.body);
        }
      }
      await eventually(() => r.received.length >= 7, 30_000, 'seven deliveries');
      const logged = await t.database.db
        .selectFrom('events')
        .select(['seq', 'type'])
        .where('marketId', '=', market.id)
        .where('type', 'in', ['trade.created', 'market.updated'])
        .orderBy('seq')
        .execute();
      const got = r.received.map((d) => JSON.parse(d.body) as { seq: number; type: string });
      assert.deepEqual(
        got.map((e) => [e.seq, e.type]),
        logged.map((e) => [Number(e.seq), e.type]),
      );
      assert.equal(maxInFlight, 1);
    });

    test('5xx answers are retried with growing delays until the receiver takes the delivery', async () => {
      const r = await receiver((_d, res, index) => {
        res.statusCode = index < 2 ? 503 : 200;
        res.end(index < 2 ? 'try later' : 'ok');
      });
      const market = await createMarket(t, alice);
      const sub = await subscribe(r.url, market.id);
      await buy(market.id);
      const [delivery] = await untilDelivery(
        sub.id,
        (d) => d[0]?.status === 'delivered',
        'delivered after retries',
      );
      assert.equal(delivery!.attempts, 3);
      assert.equal(r.received.length, 3);
      const bodies = new Set(r.received.map((d) => JSON.parse(d.body).seq));
      assert.equal(bodies.size, 1, 'the same event each time');
      // First retry after ≥ 100 ms (200 ms base, equal jitter), the second after ≥ 200 ms.
      assert.ok(r.received[1]!.at - r.received[0]!.at >= 100);
      assert.ok(r.received[2]!.at - r.received[1]!.at >= 200);
      assert.equal((await webhook(sub.id)).status, 'active');
    });

    test('a 4xx is dead-lettered without a retry, the next event still goes, and a replay delivers it', async () => {
      const r = await receiver((_d, res) => {
        res.statusCode = 400;
        res.end('bad');
      });
      const market = await createMarket(t, alice);
      const sub = await subscribe(r.url, market.id);
      await buy(market.id);
      const [dead] = await untilDelivery(sub.id, (d) => d[0]?.status === 'dead', 'dead-lettered');
      assert.equal(dead!.attempts, 1);
      assert.equal(dead!.lastStatusCode, 400);
      assert.match(dead!.lastError!, /HTTP 400: bad/);

      r.answerWith((_d, res) => res.end('ok'));
      await buy(market.id);
      await untilDelivery(sub.id, (d) => d.length === 2 && d[0]!.status === 'delivered', 'the next event');
      assert.equal(r.received.length, 2, 'the refused delivery was not retried');

      const dlq = await t.request({
        method: 'GET',
        url: `/api/me/webhooks/${sub.id}/deliveries?status=dead`,
        headers: alice.auth,
      });
      assert.deepEqual(
        dlq.json().data.map((d: Delivery) => d.id),
        [dead!.id],
      );
      const replay = await t.request({
        method: 'POST',
        url: `/api/me/webhooks/${sub.id}/deliveries/${dead!.id}/replay`,
        headers: alice.auth,
      });
      assert.equal(replay.statusCode, 202, replay.body);
      assert.equal(replay.json().data.status, 'pending');
      await untilDelivery(sub.id, (d) => d.every((x) => x.status === 'delivered'), 'replayed');
      assert.equal(JSON.parse(r.received.at(-1)!.body).seq, dead!.eventSeq);
      assert.ok(
        verifyWebhook(
          sub.secret,
          String(r.received.at(-1)!.headers['webhook-signature']),
          r.received.at(-1)!.body,
        ),
      );

      const again = await t.request({
        method: 'POST',
        url: `/api/me/webhooks/${sub.id}/deliveries/${dead!.id}/replay`,
        headers: alice.auth,
      });
      assert.equal(again.statusCode, 409, again.body);
    });

    test('an always-failing receiver is dead-lettered, then disabled, and other subscriptions are not slowed', async () => {
      const bad = await receiver((_d, res) => {
        res.statusCode = 500;
        res.end('down');
      });
      const good = await receiver();
      const market = await createMarket(t, alice);
      const failing = await subscribe(bad.url, market.id);
      await subscribe(good.url, market.id);

      const tradedAt = Date.now();
      await buy(market.id);
      await eventually(() => good.received.length === 1, 20_000, 'the healthy subscription');
      const healthyAfterMs = good.received[0]!.at - tradedAt;
      const [dead] = await untilDelivery(failing.id, (d) => d[0]?.status === 'dead', 'dead-lettered');
      assert.equal(dead!.attempts, 3, 'the first attempt and WEBHOOK_RETRY_LIMIT=2 retries');
      assert.equal(bad.received.length, 3);
      assert.ok(good.received[0]!.at < bad.received[2]!.at, 'the healthy one did not wait for the retries');
      assert.ok(healthyAfterMs < 10_000, `delivered in ${healthyAfterMs} ms`);

      // Failing for longer than WEBHOOK_DISABLE_AFTER_SECONDS (5 s): the next failure disables it.
      await sleep(5200 - (Date.now() - bad.received[0]!.at));
      await buy(market.id);
      await eventually(async () => (await webhook(failing.id)).status === 'disabled', 20_000, 'disabled');
      const disabled = await webhook(failing.id);
      assert.match(
        disabled.disabledReason!,
        /^deliveries failing since \d{4}-\d\d-\d\dT.*; last error: HTTP 500: down$/,
      );
      await eventually(() => good.received.length === 2, 20_000, 'the healthy one got the second trade');

      const badCount = bad.received.length;
      await buy(market.id);
      await eventually(() => good.received.length === 3, 20_000, 'the healthy one got the third trade');
      await sleep(1000);
      assert.equal(bad.received.length, badCount, 'nothing is sent to a disabled subscription');

      const enabled = await t.request({
        method: 'POST',
        url: `/api/me/webhooks/${failing.id}/enable`,
        headers: alice.auth,
      });
      assert.equal(enabled.statusCode, 200, enabled.body);
      assert.equal(enabled.json().data.status, 'active');
      assert.equal(enabled.json().data.disabledReason, null);
    });

    test('a receiver that does not answer times out', async () => {
      const r = await receiver(() => {
        // never answers
      });
      const market = await createMarket(t, alice);
      const sub = await subscribe(r.url, market.id);
      await buy(market.id);
      const [pending] = await untilDelivery(sub.id, (d) => (d[0]?.attempts ?? 0) >= 1, 'a timed-out attempt');
      assert.match(pending!.lastError!, /timed out after 1500 ms/);
      assert.equal(pending!.lastStatusCode, null);
    });

    test('a 1 GB answer is not read: the delivery completes after a bounded read', async () => {
      let written = 0;
      let closed = false;
      const chunk = Buffer.alloc(64 * 1024, 'x');
      const r = await receiver((_d, res) => {
        res.writeHead(200, { 'content-length': String(1024 ** 3) });
        res.on('close', () => {
          closed = true;
        });
        const pump = () => {
          while (!closed && written < 1024 ** 3) {
            written += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
        };
        pump();
      });
      const market = await createMarket(t, alice);
      const sub = await subscribe(r.url, market.id);
      await buy(market.id);
      const [delivery] = await untilDelivery(sub.id, (d) => d[0]?.status === 'delivered', 'delivered');
      assert.equal(delivery!.lastStatusCode, 200);
      await eventually(() => closed, 10_000, 'the connection closed by the sender');
      assert.ok(written < 64 * 1024 * 1024, `the receiver wrote ${written} bytes before the sender hung up`);
    });

    test('a redirect is not followed, even to an address that is allowed', async () => {
      const target = await receiver();
      const r = await receiver((_d, res) => {
        res.writeHead(302, { location: target.url });
        res.end();
      });
      const market = await createMarket(t, alice);
      const sub = await subscribe(r.url, market.id);
      await buy(market.id);
      const [dead] = await untilDelivery(sub.id, (d) => d[0]?.status === 'dead', 'dead-lettered');
      assert.match(dead!.lastError!, /HTTP 302: redirect not followed/);
      assert.equal(r.received.length, 1);
      assert.equal(target.received.length, 0);
    });

    test('the address is checked again at delivery time', async () => {
      const r = await receiver();
      const market = await createMarket(t, alice);
      const sub = await subscribe(r.url, market.id);
      // As if the name now resolved elsewhere, or the record predates the rules.
      await t.database.db
        .updateTable('webhookSubscriptions')
        .set({ url: 'https://10.0.0.1/hook' })
        .where('id', '=', sub.id)
        .execute();
      await buy(market.id);
      const [dead] = await untilDelivery(sub.id, (d) => d[0]?.status === 'dead', 'dead-lettered');
      assert.match(dead!.lastError!, /10\.0\.0\.1 is a private address/);
      assert.equal(dead!.attempts, 1, 'a refused address is not retried');
    });
  });
}
