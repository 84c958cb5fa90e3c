import { z } from 'zod';
import { MARKET_STATUSES, marketSchema } from '../markets/markets.schemas.ts';

export const searchQuery = z.strictObject({
  q: z
    .string()
    .trim()
    .min(1)
    .max(500)
    .describe('What to look for, in words (full text and nearest neighbours)')
    .meta({ examples: ['snow lisbon'] }),
  limit: z.coerce.number().int().min(1).max(50).default(10).describe('Results to return, 1–50, best first'),
  status: z.enum(MARKET_STATUSES).optional().describe('Only markets in this status'),
  category: z
    .string()
    .trim()
    .toLowerCase()
    .min(2)
    .max(50)
    .regex(/^[a-z0-9-]+$/, 'lowercase letters, digits and hyphens')
    .optional()
    .describe('Only markets of this category'),
});
export type SearchQuery = z.output<typeof searchQuery>;

export const searchResponse = z.object({
  success: z.literal(true),
  data: z.array(
    marketSchema.extend({
      score: z
        .number()
        .describe('Reciprocal-rank-fusion score: higher is better; comparable within one response'),
    }),
  ),
  meta: z.object({
    mode: z.enum(['hybrid', 'fulltext']).describe('"fulltext" where the database has no pgvector'),
    limit: z.number(),
    count: z.number(),
  }),
});
