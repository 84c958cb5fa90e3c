import { z } from 'zod';
import { ok, uuid } from '../../lib/http-schemas.ts';
import { publicProfileSchema, userSchema } from './user-dto.ts';

export const userIdParams = z.strictObject({ id: uuid.describe("The user's id (UUID)") });

/** Only the name: email, role and everything else are refused (400), never applied. */
export const patchMeBody = z.strictObject({ name: z.string().trim().min(1).max(200) });

export const changeRoleBody = z.strictObject({ role: z.enum(['admin', 'moderator', 'user']) });

export const listUsersQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20).describe('Users per page, 1–100'),
  offset: z.coerce.number().int().min(0).max(10_000).default(0).describe('Users to skip (at most 10000)'),
  count: z
    .enum(['true', 'false'])
    .transform((v) => v === 'true')
    .default(false)
    .describe('`true`: also return the total in `meta.total` (costs a count query)'),
});
export type ListUsersQuery = z.output<typeof listUsersQuery>;

export const userResponse = ok(userSchema);
export const publicProfileResponse = ok(publicProfileSchema);
export const userListResponse = z.object({
  success: z.literal(true),
  data: z.array(userSchema),
  meta: z.object({
    limit: z.number(),
    offset: z.number(),
    hasMore: z.boolean(),
    total: z.number().optional(),
  }),
});

export const createApiKeyBody = z.strictObject({ name: z.string().trim().min(1).max(100) });
export const apiKeyIdParams = z.strictObject({
  id: uuid.describe("The key's id (UUID), as listed by GET /api/me/api-keys"),
});

export const apiKeySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    prefix: z.string().describe('The first characters of the key, to recognise it'),
    createdAt: z.string(),
    lastUsedAt: z.string().nullable().describe('To the minute'),
  })
  .meta({ id: 'ApiKey' });
export type ApiKeyDto = z.infer<typeof apiKeySchema>;

export const createdApiKeyResponse = ok(
  apiKeySchema.extend({ key: z.string().describe('The whole key. Shown this once: store it now.') }),
);
export const apiKeyListResponse = ok(z.array(apiKeySchema));
