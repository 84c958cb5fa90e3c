import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createAddressPolicy } from '../src/modules/webhooks/address-policy.ts';
import { sendWebhook } from '../src/modules/webhooks/webhook-http.ts';
import type { UrlRules } from '../src/modules/webhooks/webhook-url.ts';
import { type Receiver, startReceiver } from './helpers/webhook-receiver.ts';

/** Issue 15 item 6: the address checks at delivery time, after DNS, against rebinding. */
describe('the webhook sender', () => {
  let first: Receiver;
  let second: Receiver;

  before(async () => {
    // Two receivers on the same port of two loopback addresses: where a request lands shows
    // which address the connection used.
    first = await startReceiver(undefined, '127.0.0.1');
    second = await startReceiver(undefined, '127.0.0.2', first.port);
  });
  after(async () => {
    await first?.close();
    await second?.close();
  });

  const send = (url: string, rules: UrlRules) =>
    sendWebhook(url, '{}', {}, { rules, timeoutMs: 2000, maxResponseBytes: 1024 });

  test('the connection goes to the address that was checked, even when DNS answers differently next time', async () => {
    let lookups = 0;
    // A rebinding name: the first answer passes the check, any later one points elsewhere.
    const rules: UrlRules = {
      policy: createAddressPolicy(['127.0.0.1/32']),
      httpHosts: ['rebind.test'],
      resolve: async () => [{ address: lookups++ === 0 ? '127.0.0.1' : '127.0.0.2', family: 4 }],
      resolveTimeoutMs: 1000,
    };
    const result = await send(`http://rebind.test:${first.port}/hook`, rules);
    assert.equal(result.kind, 'delivered', JSON.stringify(result));
    assert.equal(first.received.length, 1);
    assert.equal(second.received.length, 0);
    assert.equal(lookups, 1, 'resolved once, connected to that answer');
  });

  test('a name that resolves to a refused address is not connected to at all', async () => {
    const before = first.received.length + second.received.length;
    const rules: UrlRules = {
      policy: createAddressPolicy(['127.0.0.1/32']),
      httpHosts: ['rebind.test'],
      // One allowed and one refused record: the name is refused.
      resolve: async () => [
        { address: '127.0.0.1', family: 4 },
        { address: '127.0.0.2', family: 4 },
      ],
      resolveTimeoutMs: 1000,
    };
    const result = await send(`http://rebind.test:${first.port}/hook`, rules);
    assert.equal(result.kind, 'failed');
    assert.ok(result.kind === 'failed' && !result.retryable);
    assert.match(result.kind === 'failed' ? result.error : '', /127\.0\.0\.2 is a loopback address/);
    assert.equal(first.received.length + second.received.length, before);
  });

  test('without an operator allowance loopback is refused at delivery, IP literal or name', async () => {
    const before = first.received.length;
    const strict: UrlRules = {
      policy: createAddressPolicy([]),
      httpHosts: ['127.0.0.1', 'localhost'],
      resolve: async () => [{ address: '127.0.0.1', family: 4 }],
      resolveTimeoutMs: 1000,
    };
    for (const url of [`http://127.0.0.1:${first.port}/hook`, `http://localhost:${first.port}/hook`]) {
      const result = await send(url, strict);
      assert.equal(result.kind, 'failed', url);
      assert.match(result.kind === 'failed' ? result.error : '', /loopback/);
    }
    assert.equal(first.received.length, before);
  });

  test('a name that does not resolve is a retryable failure', async () => {
    const rules: UrlRules = {
      policy: createAddressPolicy([]),
      httpHosts: [],
      resolve: async () => {
        throw new Error('ENOTFOUND');
      },
      resolveTimeoutMs: 1000,
    };
    const result = await send('https://nowhere.test/hook', rules);
    assert.ok(result.kind === 'failed' && result.retryable, JSON.stringify(result));
  });

  test('a 2xx whose body never ends counts as delivered at the deadline, not as a timeout', async () => {
    const trickle = await startReceiver((_d, res) => {
      res.writeHead(200);
      res.write('partial');
    });
    try {
      const rules: UrlRules = {
        policy: createAddressPolicy(['127.0.0.1/32']),
        httpHosts: ['127.0.0.1'],
        resolve: async () => [],
        resolveTimeoutMs: 1000,
      };
      const started = Date.now();
      const result = await sendWebhook(
        trickle.url,
        '{}',
        {},
        { rules, timeoutMs: 500, maxResponseBytes: 1024 },
      );
      assert.equal(result.kind, 'delivered', JSON.stringify(result));
      assert.ok(Date.now() - started < 2000);
    } finally {
      await trickle.close();
    }
  });
});
