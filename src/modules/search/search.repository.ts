import { type Kysely, type RawBuilder, sql } from 'kysely';
import type { DB, MarketRow } from '../../db/schema.ts';
import { applyFilters, type MarketFilters } from '../markets/markets.repository.ts';

/** Reciprocal rank fusion constant: 60 is the value from Cormack et al. and nearly everyone since. */
export const RRF_K = 60;

export interface SearchParams {
  q: string;
  /** The query's embedding; absent: full text only. */
  vector?: number[] | undefined;
  /** False: nearest neighbours only (the relevance measurements compare the retrievers). */
  fullText?: boolean;
  model: string;
  filters: Pick<MarketFilters, 'status' | 'category'>;
  limit: number;
  /** Candidates each retriever contributes before fusion. */
  candidates: number;
}

export interface SearchHit {
  market: MarketRow;
  score: number;
}

export interface MarketToIndex {
  id: string;
  name: string;
  description: string;
  version: number;
}

export type SearchRepository = ReturnType<typeof createSearchRepository>;

export interface SearchTuning {
  /**
   * Full-text matches ranked per search: up to this many with every word of the question and as
   * many with any word (see fullTextCandidates). Larger ranks more of a common word's matches,
   * at the cost of one ts_rank (a few µs) per match.
   */
  fullTextPool: number;
  /**
   * hnsw.ef_search: the HNSW scan's candidate list. Larger finds more of the true nearest
   * neighbours (recall) and costs more distance computations per query.
   */
  efSearch: number;
}

/** Chosen with bench/search.ts on 100k markets (384 dimensions): see the README's search section. */
export const DEFAULT_SEARCH_TUNING: SearchTuning = { fullTextPool: 200, efSearch: 200 };

/** Data access for search: retrieval, fusion and the embeddings the indexing job writes. */
/** `read`: where searches run (a replica when there are any); indexing stays on `db`. */
export function createSearchRepository(
  db: Kysely<DB>,
  read: Kysely<DB> = db,
  tuning: SearchTuning = DEFAULT_SEARCH_TUNING,
) {
  /** Every word of the question (`plainto_tsquery` ANDs them). */
  const allWords = (q: string) => sql`plainto_tsquery('english', ${q})`;
  /** Any word of the question: OR-ing them lets a market match most words of a question. */
  const anyWord = (q: string) => sql`replace(plainto_tsquery('english', ${q})::text, '&', '|')::tsquery`;
  const document = sql.ref('d.document');

  /**
   * Markets matching `match`, as the GIN index's bitmap scan yields them: no ordering, so LIMIT
   * stops the scan. Each is ranked (ts_rank) against any word of the question.
   */
  function fullTextMatches(params: SearchParams, match: RawBuilder<unknown>) {
    const select = [
      'd.marketId as id',
      sql<number>`ts_rank(${document}, ${anyWord(params.q)})`.as('relevance'),
    ] as const;
    if (params.filters.status === undefined && params.filters.category === undefined) {
      // Every document belongs to a market (the foreign key): no join to markets to scan.
      return db
        .selectFrom('marketSearchDocuments as d')
        .select(select)
        .where(sql<boolean>`${document} @@ ${match}`);
    }
    return applyFilters(db.selectFrom('markets'), params.filters)
      .innerJoin('marketSearchDocuments as d', 'd.marketId', 'markets.id')
      .select(select)
      .where(sql<boolean>`${document} @@ ${match}`);
  }

  /**
   * The best `candidates` by ts_rank over a bounded pool, never every match: the first
   * `fullTextPool` markets with every word of the question and the first `fullTextPool` with any
   * word (one market in both is one row: same id, same rank), so at most twice the pool is ranked.
   * Where the question's words match more markets than the pool holds, the any-word pool is a
   * sample in table order: a market with some of the words and a better rank than the sampled
   * ones can be missed (ts_rank weighs no word as rarer, so it is rarely much better); markets
   * with every word are all ranked up to the pool's size.
   */
  function fullTextCandidates(params: SearchParams) {
    const everyWord = fullTextMatches(params, allWords(params.q)).limit(tuning.fullTextPool);
    const someWord = fullTextMatches(params, anyWord(params.q)).limit(tuning.fullTextPool);
    return sql`(${everyWord}) union (${someWord}) order by relevance desc, id limit ${params.candidates}`;
  }

  function vectorCandidates(params: SearchParams, vector: RawBuilder<unknown>) {
    // Nearest first straight off the HNSW index: ORDER BY distance LIMIT k on the indexed column
    // and nothing else in the ordering, or the planner sorts the whole table instead. Filters are
    // checked as the scan goes; the iterative scan set in search() keeps it going until k pass.
    const distance = sql<number>`${sql.ref('e.embedding')} <=> ${vector}`;
    return applyFilters(db.selectFrom('markets'), params.filters)
      .innerJoin('marketEmbeddings as e', 'e.marketId', 'markets.id')
      .select(['markets.id', distance.as('distance')])
      .where('e.model', '=', params.model)
      .orderBy(distance)
      .limit(params.candidates);
  }

  /** The one statement a search runs: both retrievers' candidates, fused, with the market rows. */
  function searchStatement(params: SearchParams) {
    const vector = params.vector ? sql`${JSON.stringify(params.vector)}::vector` : undefined;
    const parts = [];
    if (params.fullText !== false) {
      parts.push(sql`select id, row_number() over (order by relevance desc, id) as rank
        from (${fullTextCandidates(params)}) fts`);
    }
    if (vector) {
      parts.push(sql`select id, row_number() over (order by distance, id) as rank
        from (${vectorCandidates(params, vector)}) vec`);
    }
    const ranked = sql.join(parts, sql` union all `);
    return sql<MarketRow & { score: number }>`
      with ranked as (${ranked}),
      fused as (select id, sum(1.0 / (${RRF_K} + rank))::float8 as score from ranked group by id)
      select m.*, f.score,
             coalesce((select json_agg(json_build_object('id', a.id, 'text', a.text) order by a.index)
                         from market_answers a where a.market_id = m.id), '[]'::json) as answers
        from fused f join markets m on m.id = f.id
      order by f.score desc, m.id limit ${params.limit}`;
  }

  /** Runs `work` on the read database in a transaction with the planner settings a search needs. */
  function inSearchTransaction<T>(params: SearchParams, work: (trx: Kysely<DB>) => Promise<T>): Promise<T> {
    return read.transaction().execute(async (trx) => {
      // Every part of the statement has an index to read (GIN, HNSW, primary keys). A full-text
      // arm read in table order would stop at its LIMIT only where the matches come early, and
      // read nearly the whole table where they come late (the planner assumes they are spread).
      // pgvector 0.8: without an iterative scan, filters applied after the index scan can leave
      // fewer than k rows. ef_search is the scan's candidate list: recall against exact search.
      await sql`select set_config('enable_seqscan', 'off', true),
                       set_config('hnsw.iterative_scan', 'relaxed_order', true),
                       set_config('hnsw.ef_search', ${String(Math.max(tuning.efSearch, params.candidates))}, true)`.execute(
        trx,
      );
      return work(trx);
    });
  }

  return {
    searchStatement,
    inSearchTransaction,

    /** Best first: reciprocal rank fusion of full-text and (when given a vector) nearest-neighbour ranks. */
    search(params: SearchParams): Promise<SearchHit[]> {
      return inSearchTransaction(params, async (trx) => {
        const { rows } = await searchStatement(params).execute(trx);
        return rows.map(({ score, ...market }) => ({ market: market as MarketRow, score }));
      });
    },

    findForIndexing(ids: readonly string[]): Promise<MarketToIndex[]> {
      if (ids.length === 0) return Promise.resolve([]);
      return db
        .selectFrom('markets')
        .select(['id', 'name', 'description', 'version'])
        .where('id', 'in', ids)
        .execute();
    },

    /**
     * Stores the embeddings of a batch of distinct markets in one statement, each unless one for a
     * newer version of that market is already there: a slow job that read an older text must not
     * overwrite the work of the job that read the newer one.
     */
    async saveEmbeddings(
      markets: readonly Pick<MarketToIndex, 'id' | 'version'>[],
      model: string,
      vectors: readonly number[][],
    ): Promise<void> {
      if (markets.length === 0) return;
      await sql`
        insert into market_embeddings (market_id, model, market_version, embedding, embedded_at)
        select id, ${model}, version, embedding::vector, now()
        from unnest(${markets.map((m) => m.id)}::uuid[], ${markets.map((m) => m.version)}::int[],
                    ${vectors.map((v) => JSON.stringify(v))}::text[]) as t(id, version, embedding)
        on conflict (market_id) do update
          set model = excluded.model, market_version = excluded.market_version,
              embedding = excluded.embedding, embedded_at = excluded.embedded_at
          where market_embeddings.market_version <= excluded.market_version`.execute(db);
    },

    /** Market ids in id order after `after`, for queueing a reindex in pages. */
    async listIds(after: string | undefined, limit: number): Promise<string[]> {
      let query = db.selectFrom('markets').select('id').orderBy('id').limit(limit);
      if (after) query = query.where('id', '>', after);
      return (await query.execute()).map((r) => r.id);
    },

    /** How many markets carry an embedding from `model` (the admin status and the tests read it). */
    async countEmbedded(model: string): Promise<number> {
      const row = await db
        .selectFrom('marketEmbeddings')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('model', '=', model)
        .executeTakeFirstOrThrow();
      return Number(row.n);
    },
  };
}
