import { markdownTable } from '../lib/markdown-table.ts';
import type { BenchSection } from '../lib/section.ts';
import { runSearchBench } from '../search.ts';

/**
 * bench/search.ts at `--search-markets` markets: its own in-memory PGlite with pgvector (the
 * benchmark's PostgreSQL has none), the local embedder, one in-process client.
 */
export const searchSection: BenchSection = {
  title: 'Search',
  async run(context) {
    const r = await runSearchBench({ markets: context.searchMarkets, log: context.log });
    const ms = (x: number) => Math.round(x * 100) / 100;
    const whole = (x: number) => Math.round(x);
    return [
      `PGlite + pgvector, ${r.markets} markets, ${r.dimensions} dimensions, local embedder; ${r.search.queries} queries, one client, in process.`,
      '',
      markdownTable(
        ['measure', 'p50 (ms)', 'p99 (ms)', 'per second'],
        [
          [
            'hybrid search (embed query + full-text + HNSW)',
            ms(r.search.p50Ms),
            ms(r.search.p99Ms),
            whole(r.search.perSecond),
          ],
          [
            'full-text search',
            ms(r.fulltextSearch.p50Ms),
            ms(r.fulltextSearch.p99Ms),
            whole(r.fulltextSearch.perSecond),
          ],
          ['embedding (local), markets', '—', '—', whole(r.embedPerSecond)],
          ['indexing: read + embed + store, markets', '—', '—', whole(r.indexPerSecond)],
        ],
      ),
      '',
      markdownTable(
        ['measure', 'value'],
        [
          ['recall@10, HNSW vs exact (50 queries)', r.recallAt10.toFixed(3)],
          ['HNSW index build', `${r.hnswBuildSeconds.toFixed(1)} s`],
        ],
      ),
    ].join('\n');
  },
};
