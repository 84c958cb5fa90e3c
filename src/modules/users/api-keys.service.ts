import { ApiError } from '../../lib/errors.ts';
import { generateApiKey } from './api-key-format.ts';
import type { ApiKeyRepository } from './api-keys.repository.ts';
import type { ApiKeyDto } from './users.schemas.ts';

export type ApiKeysService = ReturnType<typeof createApiKeysService>;

const MAX_ACTIVE_KEYS = 25;

function toApiKeyDto(row: {
  id: string;
  name: string;
  prefix: string;
  createdAt: Date;
  lastUsedAt: Date | null;
}): ApiKeyDto {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    createdAt: row.createdAt.toISOString(),
    lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
  };
}

/** A user's own API keys. Every method takes the owner: nobody reaches another user's keys. */
export function createApiKeysService({
  apiKeys,
}: {
  apiKeys: Pick<ApiKeyRepository, 'createWithinLimit' | 'listActive' | 'revoke'>;
}) {
  return {
    async create(userId: string, name: string) {
      // A bound on keys per user keeps one account from filling the table.
      const { key, prefix, hash } = generateApiKey();
      const row = await apiKeys.createWithinLimit({ userId, name, prefix, keyHash: hash }, MAX_ACTIVE_KEYS);
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
