import type { BenchSection } from '../lib/section.ts';
import { runSearchBench, searchBenchMarkdown } from '../search.ts';

/**
 * bench/search.ts at `--search-markets` markets: hybrid on its own in-memory PGlite with pgvector
 * (the benchmark's PostgreSQL has none), full text only on a throwaway database of the
 * benchmark's PostgreSQL server, the same corpus and questions on both; the local embedder.
 */
export const searchSection: BenchSection = {
  title: 'Search',
  async run(context) {
    const admin = new URL(context.databaseUrl);
    admin.pathname = '/postgres';
    const result = await runSearchBench({
      markets: context.searchMarkets,
      queries: 300,
      postgresUrl: admin.toString(),
      log: context.log,
    });
    return searchBenchMarkdown(result);
  },
};
