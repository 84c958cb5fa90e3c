import { createHmac, randomBytes } from 'node:crypto';

/** The header every delivery carries: `t=<unix seconds>,v1=<hex HMAC-SHA256>[,v1=…]`. */
export const SIGNATURE_HEADER = 'webhook-signature';

/** A new signing secret: 256 random bits, recognisable by its prefix (as Stripe's `whsec_`). */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}

/**
 * Stripe's scheme: the signed text is `<t>.<body>`, keyed by the whole secret string; one `v1`
 * per secret still valid (the new and, during a rotation's grace period, the previous one), so a
 * receiver that checks any v1 against its secret keeps working across a rotation. The timestamp
 * lets a receiver refuse a replayed delivery once it is older than its tolerance.
 */
export function signatureHeader(
  secrets: readonly string[],
  body: string,
  nowSeconds = Math.floor(Date.now() / 1000),
): string {
  const signed = `${nowSeconds}.${body}`;
  const v1 = secrets.map((secret) => `v1=${createHmac('sha256', secret).update(signed).digest('hex')}`);
  return [`t=${nowSeconds}`, ...v1].join(',');
}
