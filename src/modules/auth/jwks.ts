import { createRemoteJWKSet, errors, jwtVerify } from 'jose';
import type { Role } from '../../db/schema.ts';
import { ApiError } from '../../lib/errors.ts';
import { ROLES, tokenError } from './tokens.ts';

/** Who an external identity provider says the caller is. */
export interface ExternalIdentity {
  issuer: string;
  subject: string;
  email: string | undefined;
  /** False only when the provider says the email is unverified; such an email never links accounts. */
  emailVerified: boolean;
  name: string | undefined;
  role: Role;
}

export interface ExternalTokenVerifier {
  /** The algorithms this provider may use; a token with any other `alg` never reaches it. */
  readonly algorithms: readonly string[];
  verify(token: string): Promise<ExternalIdentity>;
}

export interface ExternalTokenOptions {
  jwksUrl: string;
  issuer: string;
  audience: string;
  roleClaim: string;
  /** How long a fetched key set is trusted, and how soon an unknown `kid` may trigger a refetch. */
  cacheMaxAgeMs?: number;
  cooldownMs?: number;
  timeoutMs?: number;
}

const ALGORITHMS = ['RS256', 'ES256'] as const;

/**
 * Verifies RS256/ES256 tokens against a provider's JWKS. jose caches the key set, refetches it
 * once when a token names an unknown `kid` (key rotation), and not again within the cooldown,
 * so a flood of forged kids cannot make us hammer the provider.
 */
export function createExternalTokenVerifier(options: ExternalTokenOptions): ExternalTokenVerifier {
  const keys = createRemoteJWKSet(new URL(options.jwksUrl), {
    cacheMaxAge: options.cacheMaxAgeMs ?? 10 * 60_000,
    cooldownDuration: options.cooldownMs ?? 30_000,
    timeoutDuration: options.timeoutMs ?? 5_000,
  });

  return {
    algorithms: ALGORITHMS,
    async verify(token) {
      let payload: Record<string, unknown>;
      try {
        ({ payload } = await jwtVerify(token, keys, {
          algorithms: [...ALGORITHMS],
          issuer: options.issuer,
          audience: options.audience,
          clockTolerance: 5,
          // A token without exp would be valid forever.
          requiredClaims: ['exp'],
        }));
      } catch (error) {
        throw providerError(error);
      }
      const { iss, sub, email, email_verified: emailVerified, name } = payload;
      if (typeof iss !== 'string' || typeof sub !== 'string' || sub.length === 0 || sub.length > 500) {
        throw ApiError.unauthorized('Token lacks the sub claim');
      }
      return {
        issuer: iss,
        subject: sub,
        email: typeof email === 'string' && email.length <= 320 ? email : undefined,
        emailVerified: emailVerified !== false,
        name: typeof name === 'string' ? name.slice(0, 200) : undefined,
        role: roleFromClaim(claimAt(payload, options.roleClaim)),
      };
    },
  };
}

/** The highest of our roles named by the claim (a string or a list); `user` when none is. */
export function roleFromClaim(value: unknown): Role {
  const names = Array.isArray(value) ? value : [value];
  return ROLES.find((role) => names.includes(role)) ?? 'user';
}

/** Reads `a.b.c` from nested claims, as providers such as Keycloak nest roles. */
function claimAt(payload: Record<string, unknown>, path: string): unknown {
  if (path in payload) return payload[path];
  let value: unknown = payload;
  for (const part of path.split('.')) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** The provider's key set cannot be fetched: that is our dependency failing (503), not a bad token. */
function providerError(error: unknown): ApiError {
  const unreachable =
    error instanceof errors.JWKSTimeout ||
    error instanceof errors.JWKSInvalid ||
    error instanceof TypeError ||
    (error instanceof errors.JOSEError && error.code === 'ERR_JOSE_GENERIC');
  if (unreachable) return ApiError.unavailable('The identity provider cannot be reached, retry shortly');
  if (error instanceof errors.JWKSNoMatchingKey) return ApiError.unauthorized('Unknown token signing key');
  return tokenError(error);
}
