import { errors, jwtVerify, SignJWT } from 'jose';
import { LRUCache } from 'lru-cache';
import type { Role } from '../../db/schema.ts';
import { ApiError } from '../../lib/errors.ts';
import { UUID_PATTERN } from '../../lib/slug.ts';

export interface TokenClaims {
  sub: string;
  email: string;
  role: Role;
}

export const ROLES: readonly Role[] = ['admin', 'moderator', 'user'];

/** Our own tokens name us as issuer and audience, so a token minted elsewhere with the same secret is refused. */
export const LOCAL_ISSUER = 'markets-api';
export const LOCAL_AUDIENCE = 'markets-api';

export interface TokenService {
  readonly ttlSeconds: number;
  sign(claims: TokenClaims, ttlSeconds?: number): Promise<string>;
  /** Verifies one of our HS256 tokens; every failure is a 401 whose message says which check failed. */
  verify(token: string): Promise<TokenClaims>;
}

/** Tokens whose verification one instance remembers (a few hundred bytes each). */
const VERIFIED_TOKENS = 10_000;

export function createTokenService(secret: string, defaultTtlSeconds: number): TokenService {
  const key = new TextEncoder().encode(secret);
  /**
   * Tokens already verified, by their whole text, with their claims, until they expire: a
   * client sends the same token with every request, and its HMAC and claims are checked once
   * (jose and WebCrypto were 4.5 % of a trade's CPU). A token that expires is verified again, and
   * refused as expired; a changed byte is another token. Who the token names is looked up anyway
   * (authenticator.ts), so a deleted user or a new role takes effect at once.
   */
  const verified = new LRUCache<string, { claims: TokenClaims; expiresAt: number }>({ max: VERIFIED_TOKENS });
  return {
    ttlSeconds: defaultTtlSeconds,
    sign: (claims, ttlSeconds = defaultTtlSeconds) =>
      new SignJWT({ email: claims.email, role: claims.role })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(claims.sub)
        .setIssuer(LOCAL_ISSUER)
        .setAudience(LOCAL_AUDIENCE)
        .setIssuedAt()
        .setExpirationTime(`${ttlSeconds}s`)
        .sign(key),

    async verify(token) {
      const known = verified.get(token);
      if (known && Date.now() < known.expiresAt) return known.claims;
      let payload: Record<string, unknown>;
      try {
        ({ payload } = await jwtVerify(token, key, {
          algorithms: ['HS256'],
          issuer: LOCAL_ISSUER,
          audience: LOCAL_AUDIENCE,
          // A token without exp would be valid forever.
          requiredClaims: ['exp'],
        }));
      } catch (error) {
        throw tokenError(error);
      }
      const { sub, email, role } = payload;
      if (typeof sub !== 'string' || typeof email !== 'string' || !ROLES.includes(role as Role)) {
        throw ApiError.unauthorized('Token lacks the sub, email or role claim');
      }
      // sub is looked up as a users.id: anything but a UUID could never name a user.
      if (!UUID_PATTERN.test(sub)) throw ApiError.unauthorized('Token sub is not a user id');
      const claims: TokenClaims = Object.freeze({ sub, email, role: role as Role });
      verified.set(token, { claims, expiresAt: (payload.exp as number) * 1000 });
      return claims;
    },
  };
}

/** A jose verification failure as the 401 that says which check failed (never the token itself). */
export function tokenError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof errors.JWTExpired) return ApiError.unauthorized('Token expired');
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return ApiError.unauthorized('Invalid token signature');
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return ApiError.unauthorized('Token algorithm not allowed');
  if (error instanceof errors.JWTClaimValidationFailed) {
    return ApiError.unauthorized(`Token claim "${error.claim}" is not valid`);
  }
  return ApiError.unauthorized('Malformed token');
}
