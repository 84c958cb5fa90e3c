import { z } from 'zod';
import { CENTS_PER_UNIT, MICROS_PER_SHARE, parseFixed } from '../../domain/money.ts';
import { ok, pageCursor } from '../../lib/http-schemas.ts';
import { answerSchema } from '../markets/markets.schemas.ts';

const outcome = z.enum(['YES', 'NO']);
const probability = z.number().gt(0).lt(1);

const answerId = z.uuid().describe("One of the market's answers (`answers[].id`); any market");

/** How a body names its answer: `outcome` (binary markets) or `answerId` (any market). */
export const answerFields = {
  outcome: outcome.optional().describe('Binary markets: YES or NO (the same as their answerId)'),
  answerId: answerId.optional(),
};

/** Exactly one of `outcome` (binary markets) and `answerId` (any market) names the answer. */
export function oneAnswer(body: { outcome?: unknown; answerId?: unknown }, ctx: z.RefinementCtx) {
  if ((body.outcome === undefined) === (body.answerId === undefined))
    ctx.addIssue({
      code: 'custom',
      path: ['answerId'],
      message: 'name the answer with exactly one of outcome (binary markets) and answerId',
    });
}

/**
 * The checks a trade and an order body share: exactly one answer, and the amount as the ledger
 * counts it (buy in cents, sell in micro-shares; an issue on `amount` when it is off that grid).
 */
export function answerAndQuantity(
  body: { outcome?: unknown; answerId?: unknown; side: 'buy' | 'sell'; amount: number },
  ctx: z.RefinementCtx,
) {
  oneAnswer(body, ctx);
  const parsed = parseFixed(body.amount, body.side === 'buy' ? CENTS_PER_UNIT : MICROS_PER_SHARE);
  if ('message' in parsed) ctx.addIssue({ code: 'custom', path: ['amount'], message: parsed.message });
  return parsed;
}

/** The answer a parsed body names, as the services take it. */
export const answerChoiceOf = (body: {
  outcome?: 'YES' | 'NO' | undefined;
  answerId?: string | undefined;
}) => (body.answerId !== undefined ? { answerId: body.answerId } : { outcome: body.outcome! });

export const tradeBody = z
  .strictObject({
    ...answerFields,
    side: z.enum(['buy', 'sell']),
    amount: z
      .number()
      .positive()
      .max(1_000_000_000)
      .describe(
        'buy: money to spend (2 decimals, at least 0.01); sell: shares (6 decimals, at least 0.000001)',
      ),
    maxProbability: probability
      .optional()
      .describe('buy only: refuse (409) if the price would end above this'),
    minProbability: probability
      .optional()
      .describe('sell only: refuse (409) if the price would end below this'),
  })
  // The amount as the ledger counts it: buy in cents, sell in micro-shares.
  .transform((body, ctx) => {
    const parsed = answerAndQuantity(body, ctx);
    if (body.side === 'buy' && body.minProbability !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['minProbability'],
        message: 'applies to sells; use maxProbability',
      });
    }
    if (body.side === 'sell' && body.maxProbability !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxProbability'],
        message: 'applies to buys; use minProbability',
      });
    }
    return 'units' in parsed ? { ...body, quantity: parsed.units } : z.NEVER;
  });

export const idempotencyHeaders = z.object({
  'idempotency-key': z
    .string()
    .min(1)
    .max(255)
    .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces')
    .optional(),
});

export const tradeSchema = z
  .object({
    id: z.string(),
    marketId: z.string(),
    userId: z.string(),
    outcome: outcome.nullable().describe('Binary markets: YES or NO; null on multiple-choice markets'),
    answerId: z.string().describe('The traded answer'),
    side: z.enum(['buy', 'sell']),
    amount: z.number().describe('Money paid (buy) or received (sell), in units'),
    shares: z.number(),
    probabilityBefore: z.number(),
    probabilityAfter: z.number(),
    createdAt: z.string(),
  })
  .meta({ id: 'Trade' });

export const positionSchema = z
  .object({
    marketId: z.string(),
    userId: z.string(),
    outcome: outcome.nullable().describe('Binary markets: YES or NO; null on multiple-choice markets'),
    answerId: z.string().describe('The answer held'),
    shares: z.number(),
    costBasis: z.number().describe('Units paid for the shares still held'),
    netSpent: z.number().describe('Units paid minus units received over all trades'),
    payout: z.number().describe('Units paid out at resolution'),
    updatedAt: z.string(),
  })
  .meta({ id: 'Position' });

/** A market as a trade, position or portfolio line embeds it. */
export const marketSummary = z.object({
  id: z.string(),
  name: z.string(),
  slug: z.string(),
  status: z.string(),
  probability: z.number(),
  outcome: outcome.nullable(),
});

export const tradeResultResponse = ok(
  z.object({
    trade: tradeSchema,
    position: positionSchema,
    market: z.object({
      id: z.string(),
      probability: z.number(),
      volume: z.number(),
      liquidity: z.number(),
      yesShares: z.number(),
      noShares: z.number(),
      status: z.string(),
      version: z.number(),
      answers: z.array(answerSchema).describe('Every answer with its price after the trade (they sum to 1)'),
    }),
    balance: z.number().describe('Your balance after the trade, in units'),
  }),
);

export const quoteResponse = ok(
  z
    .object({
      outcome: outcome.nullable().describe('Binary markets: YES or NO; null on multiple-choice markets'),
      answerId: z.string().describe('The traded answer'),
      side: z.enum(['buy', 'sell']),
      amount: z.number().describe('Money the trade would pay (buy) or receive (sell), in units'),
      shares: z.number().describe('Shares it would buy or sell'),
      averagePrice: z.number().describe('amount / shares, in units per share'),
      probabilityBefore: z.number().describe("The traded outcome's price now"),
      probabilityAfter: z.number().describe("The traded outcome's price after the trade"),
      marketProbability: z
        .number()
        .describe(
          "The probability the market would show after (YES; a multiple-choice market's leading answer)",
        ),
      answers: z.array(answerSchema).describe('Every answer with its price after the trade (they sum to 1)'),
      balanceAfter: z.number().describe('Your balance after the trade, in units'),
      guard: z
        .object({
          passes: z.boolean(),
          code: z.literal('SLIPPAGE').nullable(),
          message: z.string().nullable(),
        })
        .describe(
          'What maxProbability/minProbability would say: passes=false means the trade would be refused (409)',
        ),
    })
    .meta({ id: 'Quote' }),
);

const pageMeta = z.object({ limit: z.number(), nextCursor: z.string().nullable(), hasMore: z.boolean() });

export const historyQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20).describe('Trades per page, 1–100, newest first'),
  cursor: pageCursor,
  include: z.enum(['market']).optional().describe("`market`: embed each row's market summary"),
});

export const tradePageResponse = z.object({
  success: z.literal(true),
  data: z.array(tradeSchema.extend({ market: marketSummary.optional() })),
  meta: pageMeta,
});

export const positionsQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(50).describe('Positions per page, 1–100'),
  offset: z.coerce.number().int().min(0).max(10_000).default(0).describe('Positions to skip (at most 10000)'),
});

export const positionListResponse = ok(z.array(positionSchema.extend({ market: marketSummary.optional() })));

export const resolveBody = z
  .strictObject({
    outcome: outcome.optional().describe('Binary markets: the winning outcome'),
    answerId: answerId.optional().describe('The winning answer (any market)'),
  })
  .superRefine(oneAnswer);

export const ledgerResponse = ok(
  z.object({
    granted: z.number(),
    balances: z.number(),
    escrow: z.number(),
    reservations: z.number().describe('Money held back by open limit buys'),
    difference: z.number().describe('granted − balances − escrow − reservations: always exactly 0'),
  }),
);
