import { createHash, randomBytes } from 'node:crypto';

/** 256 bits from the OS CSPRNG, URL-safe: unguessable, so a fast hash is enough to store it. */
export function randomSecret(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * SHA-256 for high-entropy secrets (refresh tokens, API keys). Lookup is by this digest through a
 * unique index, so no comparison of secret bytes happens in our code to leak timing.
 */
export function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}
