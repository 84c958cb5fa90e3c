import { createBenchMarkets, createBenchUsers } from '../lib/bench-users.ts';
import { type LoadResult, runLoad } from '../lib/load.ts';
import { markdownTable } from '../lib/markdown-table.ts';
import type { BenchSection } from '../lib/section.ts';

const TRADERS = 50;
const MARKETS = 100;

/**
 * Trades per second on PostgreSQL: 50 traders hammering one hot market (every trade waits for
 * that market's row lock), then the same load spread over 100 markets. Afterwards the ledger
 * must balance to the cent: granted = balances + escrow.
 */
export const tradingSection: BenchSection = {
  title: 'Trading',
  async run(context) {
    const { adminAuth, traderAuths: auths } = await createBenchUsers(context.db, context.jwtSecret, {
      traders: TRADERS,
      label: 'trading',
    });
    context.log(`creating ${MARKETS} markets`);
    const marketIds = await createBenchMarkets(context.app.url, adminAuth, {
      count: MARKETS,
      label: 'trading',
      liquidity: 500,
    });

    const tradeLoad = (label: string, marketOf: (n: number) => string) => {
      context.log(`measuring ${label}`);
      return runLoad({
        url: context.app.url,
        connections: context.connections,
        durationSeconds: context.durationSeconds,
        request: (n) => ({
          method: 'POST',
          path: `/api/markets/${marketOf(n)}/trades`,
          headers: { authorization: auths[n % TRADERS]!, 'content-type': 'application/json' },
          body: JSON.stringify({ outcome: n % 3 === 0 ? 'NO' : 'YES', side: 'buy', amount: 1 + (n % 4) }),
        }),
      });
    };
    const hot = await tradeLoad('one hot market', () => marketIds[0]!);
    const spread = await tradeLoad(`${MARKETS} markets`, (n) => marketIds[n % MARKETS]!);

    const ledgerRes = await fetch(`${context.app.url}/api/admin/ledger`, {
      headers: { authorization: adminAuth },
    });
    const ledger = (
      (await ledgerRes.json()) as {
        data: { granted: number; balances: number; escrow: number; difference: number };
      }
    ).data;
    const row = (label: string, r: LoadResult) => [label, r.reqPerSec, r.p50, r.p95, r.p99, r.errors];
    return [
      `${context.connections} connections, ${TRADERS} traders, ${context.durationSeconds} s each; every request is one buy; latencies in ms.`,
      '',
      markdownTable(
        ['load', 'trades/s', 'p50', 'p95', 'p99', 'errors'],
        [row('one hot market', hot), row(`spread over ${MARKETS} markets`, spread)],
      ),
      '',
      `Ledger after the run: granted ${ledger.granted}, balances ${ledger.balances}, escrow ${ledger.escrow}, **difference ${ledger.difference}**.`,
    ].join('\n');
  },
};
