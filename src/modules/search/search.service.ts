import type { Embedder } from '../../lib/embeddings/embedder.ts';
import { toMarketDto } from '../markets/market-dto.ts';
import { createQueryEmbeddings } from './query-embeddings.ts';
import type { SearchRepository } from './search.repository.ts';
import type { SearchQuery } from './search.schemas.ts';

export type SearchMode = 'hybrid' | 'fulltext';
export type SearchService = ReturnType<typeof createSearchService>;

interface Deps {
  search: Pick<SearchRepository, 'search'>;
  embedder: Pick<Embedder, 'embed' | 'model'>;
  /** 'fulltext' where pgvector is missing: the query is not even embedded. */
  mode: SearchMode;
  /** Questions whose embedding is remembered (SEARCH_QUERY_EMBEDDING_CACHE_SIZE); 0: none. */
  queryEmbeddingCacheSize: number;
}

/** Each retriever's candidates before fusion: enough for a good fused top `limit`. */
const candidatesFor = (limit: number) => Math.max(40, limit * 4);

/**
 * The seed's searchMarkets done right: hybrid retrieval (nearest neighbours + full text, fused by
 * reciprocal rank in one query that also fetches the rows), best first, each with its score.
 */
export function createSearchService({ search, embedder, mode, queryEmbeddingCacheSize }: Deps) {
  const embedQuery = createQueryEmbeddings(embedder, queryEmbeddingCacheSize);
  return {
    async search(query: SearchQuery) {
      // A provider that fails, hangs or whose circuit is open costs the semantic half, not the answer.
      const vector = mode === 'hybrid' ? await embedQuery(query.q).catch(() => undefined) : undefined;
      const hits = await search.search({
        q: query.q,
        vector,
        model: embedder.model,
        filters: { status: query.status, category: query.category },
        limit: query.limit,
        candidates: candidatesFor(query.limit),
      });
      return {
        data: hits.map(({ market, score }) => ({ ...toMarketDto(market), score })),
        meta: { mode: vector ? mode : 'fulltext', limit: query.limit, count: hits.length },
      };
    },
  };
}
