import { errors, jwtVerify, SignJWT } from 'jose';
import type { Role } from '../../db/schema.ts';
import { ApiError } from '../../lib/errors.ts';

export interface TokenClaims {
  sub: string;
  email: string;
  role: Role;
}

const ROLES: readonly Role[] = ['admin', 'moderator', 'user'];

export interface TokenService {
  sign(claims: TokenClaims, ttlSeconds?: number): Promise<string>;
  /** Verifies an HS256 token; every failure is a 401 whose message says which check failed. */
  verify(token: string): Promise<TokenClaims>;
}

export function createTokenService(secret: string, defaultTtlSeconds: number): TokenService {
  const key = new TextEncoder().encode(secret);
  return {
    sign: (claims, ttlSeconds = defaultTtlSeconds) =>
      new SignJWT({ email: claims.email, role: claims.role })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(claims.sub)
        .setIssuedAt()
        .setExpirationTime(`${ttlSeconds}s`)
        .sign(key),

    async verify(token) {
      if (!/^[\w-]+\.[\w-]+\.[\w-]+$/.test(token)) throw ApiError.unauthorized('Malformed token');
      let payload: Record<string, unknown>;
      try {
        ({ payload } = await jwtVerify(token, key, { algorithms: ['HS256'] }));
      } catch (error) {
        if (error instanceof errors.JWTExpired) throw ApiError.unauthorized('Token expired');
        if (error instanceof errors.JWSSignatureVerificationFailed) {
          throw ApiError.unauthorized('Invalid token signature');
        }
        if (error instanceof errors.JOSEAlgNotAllowed)
          throw ApiError.unauthorized('Token algorithm not allowed');
        if (error instanceof errors.JWTClaimValidationFailed) {
          throw ApiError.unauthorized(`Token claim "${error.claim}" is not valid`);
        }
        throw ApiError.unauthorized('Malformed token');
      }
      const { sub, email, role } = payload;
      if (typeof sub !== 'string' || typeof email !== 'string' || !ROLES.includes(role as Role)) {
        throw ApiError.unauthorized('Token lacks the sub, email or role claim');
      }
      return { sub, email, role: role as Role };
    },
  };
}
