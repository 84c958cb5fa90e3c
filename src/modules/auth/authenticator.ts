import { decodeProtectedHeader } from 'jose';
import { isUniqueViolation } from '../../db/errors.ts';
import { ApiError } from '../../lib/errors.ts';
import {
  type ApiKeyRepository,
  apiKeyHash,
  looksLikeApiKey,
  type UserRecord,
  type UserRepository,
} from '../users/index.ts';
import type { ExternalIdentity, ExternalTokenVerifier } from './jwks.ts';
import type { AuthUser } from './permissions.ts';
import { effectiveScopes } from './scopes.ts';
import type { TokenService } from './tokens.ts';

export interface Credentials {
  authorization: string | undefined;
  apiKey: string | undefined;
}

export interface Authenticator {
  /** Who is calling, from the Authorization or X-API-Key header; a 401 when it cannot say. */
  authenticate(credentials: Credentials): Promise<AuthUser>;
}

export interface AuthenticatorDeps {
  tokens: Pick<TokenService, 'verify'>;
  /** Set when an external identity provider is configured (JWT_JWKS_URL). */
  external?: ExternalTokenVerifier | undefined;
  users: Pick<
    UserRepository,
    'findById' | 'findByExternalId' | 'linkExternalByEmail' | 'createExternal' | 'changeRole'
  >;
  apiKeys: Pick<ApiKeyRepository, 'authenticate'>;
}

/**
 * One place decides what a credential is, by its shape and then by its JWT header's `alg`:
 * `mk_live_…` is an API key; HS256 is ours (checked with our secret only); RS256/ES256 go to the
 * provider's keys only. So an HS256 token "signed" with the provider's public key never meets that
 * key as an HMAC secret (algorithm confusion), and `alg: none` matches no verifier at all.
 */
export function createAuthenticator({ tokens, external, users, apiKeys }: AuthenticatorDeps): Authenticator {
  async function byApiKey(key: string): Promise<AuthUser> {
    const hash = apiKeyHash(key);
    const found = hash ? await apiKeys.authenticate(hash) : undefined;
    if (!found) throw ApiError.unauthorized('Invalid or revoked API key');
    if (found.expired) throw ApiError.unauthorized('This API key has expired');
    // The role is read now, with the key: a demoted owner's key loses what the new role lacks.
    return {
      id: found.id,
      email: found.email,
      role: found.role,
      apiKey: { id: found.keyId, scopes: effectiveScopes(found.scopes, found.role) },
    };
  }

  async function byLocalToken(token: string): Promise<AuthUser> {
    const claims = await tokens.verify(token);
    // The token proves who signed in; the database says whether they still exist and their role now.
    const user = await users.findById(claims.sub);
    if (!user) throw ApiError.unauthorized('The user of this token no longer exists');
    return { id: user.id, email: user.email, role: user.role };
  }

  async function byExternalToken(verifier: ExternalTokenVerifier, token: string): Promise<AuthUser> {
    const identity = await verifier.verify(token);
    const user = await findOrCreate(identity);
    // The provider owns roles for its users: follow its claim.
    if (user.role !== identity.role) await users.changeRole(user.id, identity.role);
    return { id: user.id, email: user.email, role: identity.role };
  }

  /** By (issuer, subject); else a verified email links an existing account; else a new account. */
  async function findOrCreate(identity: ExternalIdentity, retried = false): Promise<UserRecord> {
    const { issuer, subject, email } = identity;
    const known = await users.findByExternalId(issuer, subject);
    if (known) return known;
    if (!email) throw ApiError.unauthorized('Token lacks the email claim needed to create an account');
    if (identity.emailVerified) {
      const linked = await users.linkExternalByEmail(email, issuer, subject);
      if (linked) return linked;
    }
    try {
      const name = identity.name?.trim() || email.split('@')[0]!;
      return await users.createExternal({ email, name, role: identity.role, issuer, subject });
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      // A concurrent first request created it: look again, once.
      if (!retried) return findOrCreate(identity, true);
      throw ApiError.unauthorized('This email belongs to another account');
    }
  }

  return {
    async authenticate({ authorization, apiKey }) {
      if (authorization === undefined && apiKey === undefined) {
        throw ApiError.unauthorized('Missing authorization token');
      }
      if (authorization !== undefined && apiKey !== undefined) {
        throw ApiError.unauthorized('Send either an Authorization or an X-API-Key header, not both');
      }
      if (apiKey !== undefined) return byApiKey(apiKey);

      const match = /^Bearer\s+(\S+)$/i.exec(authorization!);
      if (!match) throw ApiError.unauthorized('Authorization header must be "Bearer <token>"');
      const credential = match[1]!;
      if (looksLikeApiKey(credential)) return byApiKey(credential);

      let alg: unknown;
      try {
        ({ alg } = decodeProtectedHeader(credential));
      } catch {
        throw ApiError.unauthorized('Malformed token');
      }
      if (alg === 'HS256') return byLocalToken(credential);
      if (external && typeof alg === 'string' && external.algorithms.includes(alg)) {
        return byExternalToken(external, credential);
      }
      throw ApiError.unauthorized('Token algorithm not allowed');
    },
  };
}
