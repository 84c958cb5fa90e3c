import { randomSecret, sha256Hex } from '../../lib/secrets.ts';

/** Recognisable in logs, configs and secret scanners; tells a key from a JWT at a glance. */
export const API_KEY_PREFIX = 'mk_live_';
const SHOWN_SECRET_CHARS = 6;
const KEY_SHAPE = /^mk_live_[A-Za-z0-9_-]{43}$/;

export interface NewApiKey {
  /** The whole key: shown to its owner once, never stored. */
  key: string;
  /** `mk_live_` and the first characters of the secret, so the owner can tell keys apart. */
  prefix: string;
  hash: string;
}

export function generateApiKey(): NewApiKey {
  const key = `${API_KEY_PREFIX}${randomSecret()}`;
  return { key, prefix: key.slice(0, API_KEY_PREFIX.length + SHOWN_SECRET_CHARS), hash: sha256Hex(key) };
}

export function looksLikeApiKey(credential: string): boolean {
  return credential.startsWith(API_KEY_PREFIX);
}

/** The stored digest for a presented key; undefined when it cannot be one of ours (no lookup needed). */
export function apiKeyHash(credential: string): string | undefined {
  return KEY_SHAPE.test(credential) ? sha256Hex(credential) : undefined;
}
