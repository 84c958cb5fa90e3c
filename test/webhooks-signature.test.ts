import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { verifyWebhook } from '../scripts/verify-webhook-signature.ts';
import { newWebhookSecret, signatureHeader } from '../src/modules/webhooks/webhook-signature.ts';

/** Issue 15 item 6: the README's verification snippet is the tested code, and it does its job. */
describe('webhook signatures', () => {
  test('the README shows the verification code that the tests run, character for character, in ten lines', async () => {
    const source = await readFile(new URL('../scripts/verify-webhook-signature.ts', import.meta.url), 'utf8');
    const snippet = source
      .split('// --- README snippet start ---\n')[1]!
      .split('// --- README snippet end ---')[0]!;
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
    const block = /\*\*Verifying a delivery\*\*[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(block, 'the README has the snippet under "Verifying a delivery"');
    assert.equal(block, snippet);
    assert.equal(snippet.trimEnd().split('\n').length, 10);
  });

  test('a signature under the secret verifies; a forgery, a changed body or a stale timestamp does not', () => {
    const secret = newWebhookSecret();
    const body = JSON.stringify({ seq: 1, type: 'trade.created', data: { amount: 5 } });
    const now = 1_800_000_000;
    const header = signatureHeader([secret], body, now);
    assert.equal(verifyWebhook(secret, header, body, now), true);
    assert.equal(verifyWebhook(newWebhookSecret(), header, body, now), false, 'forged: another secret');
    assert.equal(verifyWebhook(secret, header, body.replace('5', '500'), now), false, 'body changed');
    assert.equal(verifyWebhook(secret, header, body, now + 301), false, 'replayed after 5 minutes');
    assert.equal(verifyWebhook(secret, header, body, now - 301), false, 'timestamp from the future');
    assert.equal(
      verifyWebhook(secret, signatureHeader([secret], body, now - 400), body, now),
      false,
      'old t',
    );
    // A receiver holding either secret of a rotation accepts the doubly signed header.
    const next = newWebhookSecret();
    const both = signatureHeader([next, secret], body, now);
    assert.equal(verifyWebhook(next, both, body, now), true);
    assert.equal(verifyWebhook(secret, both, body, now), true);
  });
});
