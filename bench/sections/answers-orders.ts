import { createBenchMarkets, createBenchUsers, ledgerDifference } from '../lib/bench-users.ts';
import { type LoadResult, percentile } from '../lib/load.ts';
import { markdownTable } from '../lib/markdown-table.ts';
import { medianRun } from '../lib/median-run.ts';
import type { BenchContext, BenchFigure, BenchSection } from '../lib/section.ts';
import { warmUpAndMeasure } from '../lib/warm-up-and-measure.ts';

const TRADERS = 50;
const ANSWERS = 10;
/** The binary and the multiple-choice market take turns this many times; the medians are reported. */
const ROUNDS = 3;
/** Issue 14: a multiple-choice trade at no less than this share of a binary one's throughput. */
const TARGET_SHARE = 0.8;

/** Resting orders a crossing trade goes through (ORDER_FILLS_PER_TRADE's default: all fill). */
const ORDERS = 100;
/** Fresh markets the crossing is timed on (plus one to warm up). */
const CROSSING_MARKETS = 20;
/** LMSR b of those markets, in units. */
const CROSSING_LIQUIDITY = 1000;
/**
 * The crossing YES buy, in units: on b = 1000 it takes YES from 0.50 to about 0.73, so NO falls
 * to about 0.27, under every resting limit (0.499 … 0.400) with room for the 100 one-unit fills
 * to push it back up (each by well under 0.001).
 */
const CROSSING_AMOUNT = 600;
const ORDERS_IN_FLIGHT = 10;

/**
 * Issue 14's performance: trades per second on a 10-answer multiple-choice market against a
 * binary one (same traders, connections and duration, rounds taken in turns), then the latency of
 * one trade that crosses 100 resting limit orders, on fresh markets, beside the same trade on a
 * market with none. Afterwards the ledger must balance to the cent.
 */
export const answersOrdersSection: BenchSection = {
  title: 'Multiple-choice trades and limit-order crossings',
  async run(context) {
    const { adminAuth, traderAuths } = await createBenchUsers(context.db, context.jwtSecret, {
      traders: Math.max(TRADERS, ORDERS),
      label: 'answers-orders',
    });
    const url = context.app.url;

    // 1. Multiple-choice against binary.
    const [binaryId] = await createBenchMarkets(url, adminAuth, {
      count: 1,
      label: 'binary',
      liquidity: 500,
    });
    const [multipleId] = await createBenchMarkets(url, adminAuth, {
      count: 1,
      label: 'multiple-choice',
      liquidity: 500,
      answers: Array.from({ length: ANSWERS }, (_, i) => `Answer ${i + 1}`),
    });
    const answerIds = (
      await context.db
        .selectFrom('marketAnswers')
        .select('id')
        .where('marketId', '=', multipleId!)
        .orderBy('index')
        .execute()
    ).map((a) => a.id);
    const tradeLoad = (label: string, marketId: string, answer: (n: number) => object) =>
      warmUpAndMeasure(context, label, {
        url,
        request: (n) => ({
          method: 'POST',
          path: `/api/markets/${marketId}/trades`,
          headers: { authorization: traderAuths[n % TRADERS]!, 'content-type': 'application/json' },
          body: JSON.stringify({ ...answer(n), side: 'buy', amount: 1 + (n % 4) }),
        }),
      });
    const binaryRuns: LoadResult[] = [];
    const multipleRuns: LoadResult[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      binaryRuns.push(
        await tradeLoad(`round ${round}/${ROUNDS}: binary market`, binaryId!, (n) => ({
          outcome: n % 2 === 0 ? 'YES' : 'NO',
        })),
      );
      multipleRuns.push(
        await tradeLoad(`round ${round}/${ROUNDS}: ${ANSWERS}-answer market`, multipleId!, (n) => ({
          answerId: answerIds[n % ANSWERS]!,
        })),
      );
    }
    const binary = medianRun(binaryRuns, (r) => r.reqPerSec);
    const multiple = medianRun(multipleRuns, (r) => r.reqPerSec);
    const share = multiple.reqPerSec / binary.reqPerSec;
    const shares = multipleRuns.map((run, i) => Math.round((run.reqPerSec / binaryRuns[i]!.reqPerSec) * 100));

    // 2. One trade through 100 resting orders.
    const crossings = await timeCrossings(context, adminAuth, traderAuths.slice(0, ORDERS));
    const crossed = crossings.map((c) => c.crossed).sort((a, b) => a - b);
    const plain = crossings.map((c) => c.plain).sort((a, b) => a - b);
    const filled = crossings.map((c) => c.filled);
    const allFilled = filled.every((n) => n === ORDERS);

    // 3. The ledger.
    const difference = await ledgerDifference(url, adminAuth);

    const row = (label: string, r: LoadResult) => [label, r.reqPerSec, r.p50, r.p95, r.p99, r.errors];
    const verdict = share >= TARGET_SHARE ? 'met' : 'NOT met';
    const figures: BenchFigure[] = [
      { target: 'trades binary market', perSecond: binary.reqPerSec, ...latencies(binary) },
      {
        target: `trades ${ANSWERS}-answer market`,
        perSecond: multiple.reqPerSec,
        ...latencies(multiple),
        ratios: { binary: Math.round(share * 1000) / 1000 },
      },
      {
        target: `trade crossing ${ORDERS} orders`,
        perSecond: Math.round(1000 / percentile(crossed, 0.5)),
        p50: percentile(crossed, 0.5),
        p99: percentile(crossed, 0.99),
      },
      {
        target: 'same trade, no orders',
        perSecond: Math.round(1000 / percentile(plain, 0.5)),
        p50: percentile(plain, 0.5),
        p99: percentile(plain, 0.99),
      },
    ];
    const markdown = [
      `${context.connections} connections, ${TRADERS} traders, ${context.durationSeconds} s each; every request is one buy of 1–4 units, spread evenly over the answers (YES/NO on the binary market); the two markets (b = 500) took turns ${ROUNDS} times, rows are the medians (by trades/s); latencies in ms.`,
      '',
      markdownTable(
        ['market', 'trades/s', 'p50', 'p95', 'p99', 'errors'],
        [row('binary', binary), row(`multiple-choice, ${ANSWERS} answers`, multiple)],
      ),
      '',
      `Multiple-choice / binary: **${Math.round(share * 100)} %** (rounds: ${shares.join(' %, ')} %; issue 14's target: ≥ ${TARGET_SHARE * 100} %) — ${verdict}.`,
      '',
      `A ${CROSSING_AMOUNT}-unit YES buy on a fresh binary market (b = ${CROSSING_LIQUIDITY}) where ${ORDERS} users each rest a 1-unit NO buy, limits 0.499 down to ${((500 - ORDERS) / 1000).toFixed(3)}, beside the same buy on a fresh market with no orders; ${crossings.length} markets each, one trade at a time; latency of the one request, ms.`,
      '',
      markdownTable(
        ['trade', 'p50', 'p99', 'max', 'orders filled per trade'],
        [
          [
            `crossing ${ORDERS} resting orders`,
            percentile(crossed, 0.5),
            percentile(crossed, 0.99),
            percentile(crossed, 1),
            allFilled ? `${ORDERS} every time` : filled.join(', '),
          ],
          ['no resting orders', percentile(plain, 0.5), percentile(plain, 0.99), percentile(plain, 1), '—'],
        ],
      ),
      '',
      `Ledger after the section: **difference ${difference}**.`,
    ].join('\n');
    return { markdown, figures };
  },
};

const latencies = (r: LoadResult) => ({ p50: r.p50, p95: r.p95, p99: r.p99, errors: r.errors });

interface Crossing {
  /** ms of the crossing trade. */
  crossed: number;
  /** ms of the same trade on a market without orders. */
  plain: number;
  /** Orders the crossing trade left filled. */
  filled: number;
}

/** On each of CROSSING_MARKETS fresh markets (after one not counted): rest the orders, then cross them. */
async function timeCrossings(context: BenchContext, adminAuth: string, auths: string[]): Promise<Crossing[]> {
  const url = context.app.url;
  const results: Crossing[] = [];
  for (let m = 0; m <= CROSSING_MARKETS; m++) {
    const [marketId, plainId] = await createBenchMarkets(url, adminAuth, {
      count: 2,
      label: `crossing-${m}`,
      liquidity: CROSSING_LIQUIDITY,
    });
    for (let start = 0; start < auths.length; start += ORDERS_IN_FLIGHT) {
      await Promise.all(
        auths.slice(start, start + ORDERS_IN_FLIGHT).map((auth, k) =>
          post(url, `/api/markets/${marketId}/orders`, auth, {
            outcome: 'NO',
            side: 'buy',
            amount: 1,
            limitProbability: (499 - start - k) / 1000,
          }),
        ),
      );
    }
    const big = { outcome: 'YES', side: 'buy', amount: CROSSING_AMOUNT };
    const crossed = await post(url, `/api/markets/${marketId}/trades`, auths[0]!, big);
    const plain = await post(url, `/api/markets/${plainId}/trades`, auths[0]!, big);
    const { filled } = await context.db
      .selectFrom('orders')
      .select((eb) => eb.fn.countAll<string>().as('filled'))
      .where('marketId', '=', marketId!)
      .where('status', '=', 'filled')
      .executeTakeFirstOrThrow();
    if (m === 0) continue;
    results.push({ crossed, plain, filled: Number(filled) });
    context.log(`  crossing ${m}/${CROSSING_MARKETS}: ${crossed.toFixed(1)} ms, ${filled} orders filled`);
  }
  return results;
}

/** One POST that must answer 201; resolves with its latency in ms. */
async function post(url: string, path: string, auth: string, body: object): Promise<number> {
  const sent = performance.now();
  const res = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { authorization: auth, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  const ms = performance.now() - sent;
  if (res.status !== 201) throw new Error(`POST ${path} answered ${res.status}: ${text}`);
  return ms;
}
