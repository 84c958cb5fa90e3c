/**
 * How a receiver checks a delivery. The README's "Verifying a delivery" snippet is the code
 * between the markers, character for character: test/webhooks-signature.test.ts checks that the
 * README holds this exact text and runs it against real deliveries. Pass the raw body as
 * received, before any JSON parsing, and the `Webhook-Signature` header.
 */
// --- README snippet start ---
import { createHmac, timingSafeEqual } from 'node:crypto';

export function verifyWebhook(secret: string, header: string, body: string, now = Date.now() / 1000) {
  const parts = header.split(',').map((part) => part.trim().split('='));
  const t = Number(parts.find(([key]) => key === 't')?.[1]);
  if (!Number.isInteger(t) || Math.abs(now - t) > 300) return false; // over 5 minutes old: a replay
  const expected = Buffer.from(createHmac('sha256', secret).update(`${t}.${body}`).digest('hex'));
  const same = (v = '') => Buffer.byteLength(v) === 64 && timingSafeEqual(Buffer.from(v), expected);
  return parts.some(([key, value]) => key === 'v1' && same(value));
}
// --- README snippet end ---
