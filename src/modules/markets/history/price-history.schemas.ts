import { z } from 'zod';
import { ok } from '../../../lib/http-schemas.ts';
import { marketListQuery } from '../markets.schemas.ts';

/** Bucket widths a chart may ask for, in milliseconds. */
export const INTERVALS = { '1m': 60_000, '5m': 300_000, '1h': 3_600_000, '1d': 86_400_000 } as const;
export type Interval = keyof typeof INTERVALS;
/** Buckets one request may span: 1000 one-minute buckets are ~17 h, 1000 days ~2.7 years. */
export const MAX_BUCKETS = 1000;
/** Buckets answered when `from` is not given. */
export const DEFAULT_BUCKETS = 100;

const instant = z.iso
  .datetime({ offset: true })
  .transform((s) => new Date(s))
  .refine((d) => !Number.isNaN(d.getTime()), 'must be a valid date');

export const priceHistoryQuery = z.strictObject({
  interval: z
    .enum(Object.keys(INTERVALS) as [Interval, ...Interval[]])
    .default('1h')
    .describe('Bucket width; buckets are aligned to UTC (midnight for 1d)'),
  from: instant.optional().describe(`ISO 8601; default: ${DEFAULT_BUCKETS} buckets before \`to\``),
  to: instant.optional().describe('ISO 8601; default: now. The bucket containing `to` is the last one'),
  answerId: z
    .uuid()
    .optional()
    .describe(
      "The answer to chart (`answers[].id`). Default: a binary market's YES; a multiple-choice market's leading answer now",
    ),
});
export type PriceHistoryQuery = z.output<typeof priceHistoryQuery>;

export const bucketSchema = z
  .object({
    start: z.string().describe('Start of the bucket (inclusive), ISO 8601 UTC'),
    open: z.number().describe("The charted answer's probability at the start of the bucket (YES by default)"),
    high: z.number(),
    low: z.number(),
    close: z.number().describe("The charted answer's probability at the end of the bucket"),
    volume: z.number().describe('Money traded in the bucket, in units (2 decimals)'),
    trades: z.number().int(),
  })
  .meta({ id: 'PriceBucket' });
export type BucketDto = z.infer<typeof bucketSchema>;

export const priceHistoryResponse = ok(
  z.object({
    marketId: z.string(),
    answerId: z.string().describe('The charted answer'),
    interval: z.enum(Object.keys(INTERVALS) as [Interval, ...Interval[]]),
    from: z.string().describe('Start of the first bucket'),
    to: z.string().describe('End of the last bucket (exclusive)'),
    buckets: z.array(bucketSchema),
  }),
);
export type PriceHistoryDto = z.infer<typeof priceHistoryResponse>['data'];

/** Markets one batch request may ask for. */
export const MAX_BATCH_MARKETS = 20;

export const batchPriceHistoryQuery = priceHistoryQuery.omit({ answerId: true }).extend({
  markets: marketListQuery(MAX_BATCH_MARKETS).describe(
    `Comma-separated market ids or slugs, at most ${MAX_BATCH_MARKETS}`,
  ),
});

export const batchPriceHistoryResponse = ok(
  z.object({
    interval: z.enum(Object.keys(INTERVALS) as [Interval, ...Interval[]]),
    from: z.string(),
    to: z.string(),
    markets: z.array(
      z.object({
        marketId: z.string(),
        answerId: z
          .string()
          .describe("The charted answer: YES, or a multiple-choice market's leading answer"),
        buckets: z.array(bucketSchema),
      }),
    ),
  }),
);
export type BatchPriceHistoryDto = z.infer<typeof batchPriceHistoryResponse>['data'];
