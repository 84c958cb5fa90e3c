import { ApiError } from '../../lib/errors.ts';
import type { AuthUser } from '../auth/index.ts';
import { SCOPE_NAMES, type Scope, scopesOfRole } from '../auth/scopes.ts';
import { generateApiKey } from './api-key-format.ts';
import type { ApiKeyRepository } from './api-keys.repository.ts';
import type { ApiKeyDto, CreateApiKeyInput } from './users.schemas.ts';

export type ApiKeysService = ReturnType<typeof createApiKeysService>;

const MAX_ACTIVE_KEYS = 25;

function toApiKeyDto(row: {
  id: string;
  name: string;
  prefix: string;
  scopes: string[];
  expiresAt: Date | null;
  createdAt: Date;
  lastUsedAt: Date | null;
}): ApiKeyDto {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    // Stored scopes are known ones (a CHECK says so); kept in the table's order.
    scopes: SCOPE_NAMES.filter((s) => row.scopes.includes(s)),
    expiresAt: row.expiresAt?.toISOString() ?? null,
    createdAt: row.createdAt.toISOString(),
    lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
  };
}

/** The scopes a caller may put on a new key: its role's, narrowed to its own key's when it is one. */
function grantable(caller: AuthUser): Scope[] {
  const role = scopesOfRole(caller.role);
  return caller.apiKey ? role.filter((s) => caller.apiKey!.scopes.includes(s)) : role;
}

/** A user's own API keys. Every method takes the owner: nobody reaches another user's keys. */
export function createApiKeysService({
  apiKeys,
}: {
  apiKeys: Pick<ApiKeyRepository, 'createWithinLimit' | 'listActive' | 'revoke'>;
}) {
  return {
    /**
     * A new key for the caller. Its scopes are at most what the caller's role allows and, when the
     * caller is itself a key, what that key has: a key never mints a stronger one.
     */
    async create(caller: AuthUser, { name, scopes, expiresAt }: CreateApiKeyInput) {
      const ceiling = grantable(caller);
      const granted = scopes ?? ceiling;
      const beyond = granted.filter((s) => !ceiling.includes(s));
      if (beyond.length > 0) {
        throw new ApiError(
          403,
          'SCOPE_NOT_ALLOWED',
          `You cannot give a key the ${beyond.map((s) => `"${s}"`).join(', ')} scope${beyond.length > 1 ? 's' : ''}`,
          beyond.map((scope) => ({ scope })),
        );
      }
      // A bound on keys per user keeps one account from filling the table.
      const { key, prefix, hash } = generateApiKey();
      const row = await apiKeys.createWithinLimit(
        { userId: caller.id, name, prefix, keyHash: hash, scopes: granted, expiresAt: expiresAt ?? null },
        MAX_ACTIVE_KEYS,
      );
      if (row === 'limit') {
        throw ApiError.conflict(
          `At most ${MAX_ACTIVE_KEYS} active API keys; revoke one first`,
          'TOO_MANY_API_KEYS',
        );
      }
      if (!row) throw ApiError.unauthorized('The user of this token no longer exists');
      return { ...toApiKeyDto(row), key };
    },

    async list(userId: string) {
      return (await apiKeys.listActive(userId)).map(toApiKeyDto);
    },

    /** Another user's key is a 404, as if it did not exist: no probing for key ids. */
    async revoke(userId: string, keyId: string) {
      if (!(await apiKeys.revoke(userId, keyId))) throw ApiError.notFound('API key');
    },
  };
}
