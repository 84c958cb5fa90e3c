import { z } from 'zod';
import { ok, uuid } from '../../lib/http-schemas.ts';
import { moneyCents, moneyCentsQuery } from '../trading/amount.schemas.ts';

export const MARKET_STATUSES = ['active', 'closed', 'resolved', 'cancelled'] as const;
export const SORT_FIELDS = ['volume', 'createdAt', 'closesAt', 'probability', 'name'] as const;
export const MARKET_FIELDS = [
  'id',
  'slug',
  'name',
  'description',
  'category',
  'tags',
  'status',
  'closesAt',
  'creatorId',
  'probability',
  'volume',
  'outcome',
  'resolvedAt',
  'createdAt',
  'updatedAt',
  'version',
  'liquidity',
  'yesShares',
  'noShares',
  'type',
  'answers',
  'resolvedAnswerId',
] as const;
export const MARKET_TYPES = ['binary', 'multiple'] as const;
/** How many answers a multiple-choice market has. */
export const MIN_ANSWERS = 2;
export const MAX_ANSWERS = 20;
export type MarketField = (typeof MARKET_FIELDS)[number];
export type SortField = (typeof SORT_FIELDS)[number];

const SLUG = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
const slug = z.string().max(120).regex(SLUG, 'lowercase letters, digits and single hyphens');
const category = z
  .string()
  .trim()
  .toLowerCase()
  .min(2)
  .max(50)
  .regex(/^[a-z0-9-]+$/, 'lowercase letters, digits and hyphens');
const tag = z
  .string()
  .trim()
  .toLowerCase()
  .min(1)
  .max(40)
  .regex(/^[a-z0-9-]+$/, 'lowercase letters, digits and hyphens');
/** How far ahead a market may close: far enough for any real question, short of what no one will resolve. */
export const MAX_CLOSE_HORIZON_YEARS = 50;
const YEAR_MS = 365.25 * 24 * 3600 * 1000;
const futureDate = z.iso
  .datetime({ offset: true })
  .transform((s) => new Date(s))
  .refine((d) => d.getTime() > Date.now(), 'must be in the future')
  .refine(
    (d) => d.getTime() <= Date.now() + MAX_CLOSE_HORIZON_YEARS * YEAR_MS,
    `must be at most ${MAX_CLOSE_HORIZON_YEARS} years ahead`,
  );

/** The fields a client may write. `.strict()`: anything else (id, status, volume…) is a 400. */
const editable = {
  name: z.string().trim().min(3).max(200),
  description: z.string().max(5000).default(''),
  category,
  tags: z
    .array(tag)
    .max(10)
    .default([])
    .transform((t) => [...new Set(t)]),
  closesAt: futureDate,
};

export const createMarketBody = z
  .strictObject({
    ...editable,
    slug: slug.optional(),
    liquidity: moneyCents(1_000_000)
      .optional()
      .describe(
        'LMSR b in units (2 decimals, at least 0.01); the creator funds b·ln 2 (default from config)',
      ),
    answers: z
      .array(z.string().trim().min(1, 'an answer must not be blank').max(200))
      .min(MIN_ANSWERS)
      .max(MAX_ANSWERS)
      .refine(
        (a) => new Set(a.map((t) => t.toLowerCase())).size === a.length,
        'answers must be distinct (ignoring case)',
      )
      .optional()
      .describe(
        `A multiple-choice market: ${MIN_ANSWERS}–${MAX_ANSWERS} distinct answers (trimmed, case-insensitive); the creator funds b·ln N. Without it, a binary YES/NO market`,
      ),
    initialPosition: z
      .strictObject({ outcome: z.enum(['YES', 'NO']), amount: moneyCents(1_000_000_000) })
      .optional()
      .describe("Binary markets: the creator's first trade, in the same transaction as the market"),
  })
  .refine((b) => !(b.answers && b.initialPosition), {
    path: ['initialPosition'],
    message: 'initialPosition applies to binary markets; trade an answer after creating the market',
  });
export const replaceMarketBody = z.strictObject({ ...editable, slug: slug.optional() });
export type ReplaceMarketInput = z.output<typeof replaceMarketBody>;
export const patchMarketBody = z
  .strictObject({
    name: editable.name,
    description: z.string().max(5000),
    category,
    tags: z
      .array(tag)
      .max(10)
      .transform((t) => [...new Set(t)]),
    closesAt: futureDate,
    slug,
  })
  .partial()
  .refine((b) => Object.keys(b).length > 0, 'at least one field is required');

export type CreateMarketInput = z.output<typeof createMarketBody>;
export type PatchMarketInput = z.output<typeof patchMarketBody>;

export const marketIdParams = z.object({
  id: z
    .union([uuid, slug], { error: 'must be a market UUID or slug' })
    .describe("The market's id (UUID) or its slug")
    .meta({ examples: ['will-it-snow-in-lisbon-this-winter'] }),
});

/**
 * `markets=a,b,…` of the reads that take several markets (streams, the history batch): ids or
 * slugs, each once, at most `max`. An empty item (`a,,b`) is a 400, not silently dropped.
 */
export function marketListQuery(max: number) {
  return z
    .string()
    .max(max * 150)
    .transform((s, ctx) => {
      const items = s.split(',').map((x) => x.trim());
      if (items.some((x) => x === ''))
        ctx.addIssue({ code: 'custom', message: 'an empty market in the list' });
      else if (items.length > max) ctx.addIssue({ code: 'custom', message: `at most ${max} markets` });
      else if (new Set(items).size !== items.length)
        ctx.addIssue({ code: 'custom', message: 'each market at most once' });
      else if (!items.every((x) => marketIdParams.shape.id.safeParse(x).success))
        ctx.addIssue({ code: 'custom', message: 'each market must be a UUID or slug' });
      else return items;
      return z.NEVER;
    });
}

const csv = <T extends string>(values: readonly T[], name: string) =>
  z
    .string()
    .max(500)
    .transform((s, ctx) => {
      const items = [
        ...new Set(
          s
            .split(',')
            .map((x) => x.trim())
            .filter(Boolean),
        ),
      ];
      if (items.length === 0) {
        ctx.addIssue({ code: 'custom', message: `name at least one ${name}` });
        return z.NEVER;
      }
      const unknown = items.filter((x) => !values.includes(x as T));
      if (unknown.length > 0) {
        ctx.addIssue({
          code: 'custom',
          message: `unknown ${name}: ${unknown.join(', ')}; allowed: ${values.join(', ')}`,
        });
        return z.NEVER;
      }
      return items as T[];
    });

/** Markets one `ids=` filter may name: a batch read of a watchlist or a portfolio. */
export const MAX_LIST_IDS = 100;

const ids = z
  .string()
  .max(MAX_LIST_IDS * 40)
  .transform((s, ctx) => {
    const items = s
      .split(',')
      .map((x) => x.trim().toLowerCase())
      .filter(Boolean);
    if (items.length === 0) ctx.addIssue({ code: 'custom', message: 'name at least one market id' });
    else if (items.length > MAX_LIST_IDS)
      ctx.addIssue({ code: 'custom', message: `at most ${MAX_LIST_IDS} ids per request` });
    else if (!items.every((x) => uuid.safeParse(x).success))
      ctx.addIssue({ code: 'custom', message: 'each id must be a market UUID' });
    // Sorted and without repeats: the same set in any spelling is the same filter (and cache key).
    else return [...new Set(items)].sort();
    return z.NEVER;
  });

/** An instant a timestamptz column and both database drivers take as written: years 1–9999. */
const instant = z.iso
  .datetime({ offset: true })
  .transform((s) => new Date(s))
  .refine((d) => d.getUTCFullYear() >= 1 && d.getUTCFullYear() <= 9999, 'years 1 to 9999');

export const listMarketsQuery = z
  .strictObject({
    status: z
      .enum(MARKET_STATUSES)
      .optional()
      .describe('Only markets in this status (`active`: open for trading and not past `closesAt`)'),
    category: category
      .optional()
      .describe('Only markets of this category')
      .meta({ examples: ['weather'] }),
    creatorId: uuid.optional().describe('Only markets created by this user (UUID)'),
    tag: tag
      .optional()
      .describe('Only markets carrying this tag')
      .meta({ examples: ['lisbon'] }),
    ids: ids
      .optional()
      .describe(
        `Comma-separated market UUIDs, at most ${MAX_LIST_IDS}: only these markets (unknown ids are simply absent; set limit to get them all on one page)`,
      ),
    volumeMin: moneyCentsQuery.optional().describe('Volume at least this, in units (2 decimals)'),
    volumeMax: moneyCentsQuery.optional().describe('Volume at most this, in units (2 decimals)'),
    closesAfter: instant.optional().describe('Close time at or after this instant (ISO 8601 with offset)'),
    closesBefore: instant
      .optional()
      .describe('Close time strictly before this instant (ISO 8601 with offset)'),
    type: z
      .enum(MARKET_TYPES)
      .optional()
      .describe('`binary` (YES/NO) or `multiple` (multiple-choice) markets only'),
    sort: z.enum(SORT_FIELDS).default('createdAt').describe('Order by this field'),
    order: z.enum(['asc', 'desc']).default('desc').describe('Ascending or descending'),
    limit: z.coerce.number().int().min(1).max(100).default(20).describe('Markets per page, 1–100'),
    offset: z.coerce
      .number()
      .int()
      .min(0)
      .max(10_000)
      .default(0)
      .describe('Markets to skip (at most 10000; past that, page with `cursor`)'),
    cursor: z
      .string()
      .min(1)
      .max(500)
      .optional()
      .describe(
        'Continue after the previous page: its `meta.nextCursor` (same filters and sort); not with `offset`',
      ),
    fields: csv(MARKET_FIELDS, 'field')
      .optional()
      .describe('Comma-separated fields to return instead of all of them')
      .meta({ examples: ['id,name,probability'] }),
    include: csv(['creator'] as const, 'include')
      .optional()
      .describe("`creator`: embed each market's creator `{ id, name }`"),
    count: z
      .enum(['true', 'false'])
      .transform((v) => v === 'true')
      .default(false)
      .describe('`true`: also return the total in `meta.total` (costs a count query)'),
  })
  .superRefine((q, ctx) => {
    if (q.volumeMin !== undefined && q.volumeMax !== undefined && q.volumeMin > q.volumeMax)
      ctx.addIssue({ code: 'custom', path: ['volumeMin'], message: 'volumeMin must not exceed volumeMax' });
    if (q.closesAfter && q.closesBefore && q.closesAfter >= q.closesBefore)
      ctx.addIssue({
        code: 'custom',
        path: ['closesAfter'],
        message: 'closesAfter must be before closesBefore',
      });
  });
export type ListMarketsQuery = z.output<typeof listMarketsQuery>;

export const creatorSchema = z.object({ id: z.string(), name: z.string() }).meta({ id: 'Creator' });

export const answerSchema = z
  .object({ id: z.string(), text: z.string(), probability: z.number() })
  .meta({ id: 'Answer' });

export const marketSchema = z
  .object({
    id: z.string(),
    slug: z.string(),
    name: z.string(),
    description: z.string(),
    category: z.string(),
    tags: z.array(z.string()),
    status: z.enum(MARKET_STATUSES),
    closesAt: z.string(),
    creatorId: z.string(),
    probability: z.number(),
    volume: z.number().describe('Money traded, in units (2 decimals)'),
    outcome: z.enum(['YES', 'NO']).nullable(),
    resolvedAt: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
    version: z.number().int(),
    liquidity: z.number().describe('LMSR b, in units'),
    yesShares: z.number().describe('Outstanding YES shares'),
    noShares: z.number().describe('Outstanding NO shares'),
    type: z.enum(MARKET_TYPES).describe('`binary` (answers YES, NO) or `multiple`'),
    answers: z
      .array(answerSchema)
      .describe(
        "The answers in order, each with its price; the prices sum to 1 (a binary market's: YES, NO)",
      ),
    resolvedAnswerId: z.string().nullable().describe('The winning answer once resolved'),
    creator: creatorSchema.optional(),
  })
  .meta({ id: 'Market' });
export type MarketDto = z.infer<typeof marketSchema>;

export const marketResponse = ok(marketSchema);
export const marketListResponse = z.object({
  success: z.literal(true),
  data: z.array(marketSchema.partial()),
  meta: z.object({
    limit: z.number(),
    offset: z.number(),
    nextCursor: z.string().nullable(),
    hasMore: z.boolean(),
    total: z.number().optional(),
  }),
});
