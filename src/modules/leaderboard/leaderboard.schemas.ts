import { z } from 'zod';
import { PERIODS } from '../../domain/portfolio.ts';
import { ok, pageCursor } from '../../lib/http-schemas.ts';
import { marketSummary } from '../trading/trading.schemas.ts';
import { BOARDS } from './leaderboard.repository.ts';

const outcome = z.enum(['YES', 'NO']);
const period = z
  .enum(PERIODS)
  .describe('day = today (UTC), week = the last 7 days, month = the last 30, all');
const by = z
  .enum(BOARDS)
  .describe(
    'profit (units gained in the period), volume (units traded), traders (creators by distinct traders)',
  );

const portfolioPosition = z.object({
  market: marketSummary,
  answerId: z.string().describe("The held answer's id (`answers[].id`; a binary market's YES or NO too)"),
  outcome: outcome.nullable().describe('YES or NO on a binary market; null on a multiple-choice one'),
  shares: z
    .number()
    .describe('Shares held, including those your open sell orders hold back (valued like the rest)'),
  reservedShares: z.number().describe('Of `shares`, those held back by your open sell orders'),
  costBasis: z.number(),
  netSpent: z.number(),
  valuation: z
    .enum(['sale', 'settled'])
    .describe('sale: what selling every share now returns; settled: what settlement paid'),
  value: z.number(),
  realisedProfit: z.number(),
  unrealisedProfit: z.number(),
  profit: z.number(),
});

export const portfolioResponse = ok(
  z.object({
    balance: z.number(),
    reserved: z.number().describe('Money your open limit buy orders hold back from the balance'),
    positionsValue: z
      .number()
      .describe('What selling every open position now would return (shares in open sell orders included)'),
    netWorth: z.number().describe('balance + reserved + positionsValue'),
    realisedProfit: z.number(),
    unrealisedProfit: z.number(),
    profit: z.number(),
    positions: z.array(portfolioPosition),
  }),
);

export const historyQuery = z.strictObject({ period: period.default('month') });

export const historyResponse = ok(
  z.array(
    z.object({
      day: z.string().describe('UTC day of the snapshot (YYYY-MM-DD)'),
      balance: z.number(),
      positionsValue: z.number(),
      netWorth: z.number().describe("balance + open buy orders' reserved money + positionsValue"),
      profit: z.number().describe('Trading profit of all time at that moment'),
    }),
  ),
);

export const boardQuery = z.strictObject({
  by: by.default('profit'),
  period: period.default('all'),
  limit: z.coerce.number().int().min(1).max(100).default(20).describe('Entries per page, 1–100'),
  cursor: pageCursor,
});

export const myRankQuery = boardQuery.pick({ by: true, period: true });

const entry = z.object({
  rank: z.number().int(),
  user: z.object({ id: z.string(), name: z.string() }),
  value: z.number().describe('Units of money (profit, volume) or a count of traders'),
});

export const boardResponse = z.object({
  success: z.literal(true),
  data: z.array(entry),
  meta: z.object({
    limit: z.number(),
    hasMore: z.boolean(),
    nextCursor: z.string().nullable(),
    refreshedAt: z
      .string()
      .nullable()
      .describe('When the boards were last rebuilt (LEADERBOARD_REFRESH_CRON)'),
  }),
});

export const myRankResponse = ok(entry.nullable());
