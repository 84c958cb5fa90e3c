import type { Role } from '../../db/schema.ts';
import { type Permission, rolePermissions } from './permissions.ts';

/**
 * What an API key may be used for. A route declares the one scope it needs (`config.scope`); a
 * key carries a set of them. Each scope needs a permission of its owner's role (the ceiling): a
 * key never does more than its owner could, whatever it was given. Access tokens (login, `npm run
 * token`, an identity provider) carry no scopes: they act with the whole role.
 */
export const SCOPES = {
  /** Your account, balance, trades, positions and keys; quotes. Public reads need no key at all. */
  read: 'read',
  /** Buy and sell shares. */
  trade: 'write',
  /** Create, edit, delete, resolve and cancel markets (as far as the role allows each). */
  'markets:write': 'write',
  /** Post and delete comments. */
  'comments:write': 'write',
  /** Change your own profile (PATCH /api/me). */
  'account:write': 'write',
  /** Create and revoke API keys; a key can only give a new key scopes it has itself. */
  'keys:write': 'write',
  /** Create, rotate, enable and delete webhook subscriptions, replay their deliveries. */
  'webhooks:write': 'write',
  /** The admin routes (users, roles, ledger, jobs, reindex). */
  admin: 'admin',
} as const satisfies Record<string, Permission>;

export type Scope = keyof typeof SCOPES;
export const SCOPE_NAMES = Object.keys(SCOPES) as [Scope, ...Scope[]];

/** Every scope a role may hold: what its keys get when created without a list, and at most. */
export function scopesOfRole(role: Role): Scope[] {
  return SCOPE_NAMES.filter((scope) => rolePermissions[role].includes(SCOPES[scope]));
}

/** The scopes of a key that its owner's current role still allows (a demoted owner's key shrinks with them). */
export function effectiveScopes(keyScopes: readonly string[], role: Role): Scope[] {
  const allowed = scopesOfRole(role);
  return allowed.filter((scope) => keyScopes.includes(scope));
}
