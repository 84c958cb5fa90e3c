import { z } from 'zod';
import { ok, uuid } from '../../lib/http-schemas.ts';
import { SCOPE_NAMES } from '../auth/scopes.ts';
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

/** How far ahead a key may expire: long-lived keys should be rotated, not kept forever by accident. */
export const MAX_API_KEY_LIFETIME_DAYS = 3650;

export const createApiKeyBody = z.strictObject({
  name: z.string().trim().min(1).max(100).describe('To recognise the key in your list'),
  scopes: z
    .array(z.enum(SCOPE_NAMES))
    .min(1)
    .max(SCOPE_NAMES.length)
    .transform((s) => [...new Set(s)])
    .optional()
    .describe(
      `What the key may do: ${SCOPE_NAMES.join(', ')}. Default: every scope your role allows (and, when a key creates this one, that key has). More than that is a 403`,
    ),
  expiresAt: z.iso
    .datetime({ offset: true })
    .transform((s) => new Date(s))
    .refine((d) => d.getTime() > Date.now(), 'must be in the future')
    .refine(
      (d) => d.getTime() <= Date.now() + MAX_API_KEY_LIFETIME_DAYS * 86_400_000,
      `at most ${MAX_API_KEY_LIFETIME_DAYS} days ahead`,
    )
    .optional()
    .describe('When the key stops working (401 after it), ISO 8601; default: never'),
});
export type CreateApiKeyInput = z.output<typeof createApiKeyBody>;
export const apiKeyIdParams = z.strictObject({
  id: uuid.describe("The key's id (UUID), as listed by GET /api/me/api-keys"),
});

export const apiKeySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    prefix: z.string().describe('The first characters of the key, to recognise it'),
    scopes: z
      .array(z.enum(SCOPE_NAMES))
      .describe('What the key may do (cut to what your role allows at use)'),
    expiresAt: z.string().nullable().describe('When it stops working; null: never'),
    createdAt: z.string(),
    lastUsedAt: z.string().nullable().describe('To the minute'),
  })
  .meta({ id: 'ApiKey' });
export type ApiKeyDto = z.infer<typeof apiKeySchema>;

export const createdApiKeyResponse = ok(
  apiKeySchema.extend({ key: z.string().describe('The whole key. Shown this once: store it now.') }),
);
export const apiKeyListResponse = ok(z.array(apiKeySchema));
