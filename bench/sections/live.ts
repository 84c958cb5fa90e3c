import { createBenchUsers, ledgerDifference } from '../lib/bench-users.ts';
import type { BenchSection } from '../lib/section.ts';
import { measureHistory } from './live-history.ts';
import { measureStreams } from './live-streams.ts';

const TRADERS = 50;

/**
 * Live market data (issue 13): price history of one market against its own SQL through pgbench,
 * then SSE subscribers receiving trades made at a fixed rate. The ledger must still balance after.
 */
export const liveSection: BenchSection = {
  title: 'Live market data',
  async run(context) {
    const users = await createBenchUsers(context.db, context.jwtSecret, { traders: TRADERS, label: 'live' });
    const history = await measureHistory(context, users);
    const streams = await measureStreams(context, users);
    const difference = await ledgerDifference(context.app.url, users.adminAuth);
    return [
      '### Price history',
      '',
      history,
      '',
      '### Streams',
      '',
      streams,
      '',
      `Ledger after the section: **difference ${difference}**.`,
    ].join('\n');
  },
};
