import { type Kysely, type SelectQueryBuilder, sql } from 'kysely';
import { batchedLookup } from '../../db/batched-lookup.ts';
import { allColumns } from '../../db/columns.ts';
import { compiledOnce } from '../../db/prepared-statements.ts';
import type {
  AnswerRow,
  DB,
  MarketRow,
  MarketRowUpdate,
  MarketType,
  NewMarketRow,
  Outcome,
} from '../../db/schema.ts';
import type { Trx } from '../../db/transaction.ts';
import { UUID_PATTERN } from '../../lib/slug.ts';
import type { MarketField, SortField } from './markets.schemas.ts';

export interface MarketFilters {
  status?: MarketRow['status'] | undefined;
  category?: string | undefined;
  creatorId?: string | undefined;
  tag?: string | undefined;
  /** Only these ids (at most MAX_LIST_IDS, checked by the schema). */
  ids?: readonly string[] | undefined;
  /** Volume bounds in cents, both inclusive. */
  volumeMin?: number | undefined;
  volumeMax?: number | undefined;
  /** Close-time window: at or after `closesAfter`, strictly before `closesBefore`. */
  closesAfter?: Date | undefined;
  closesBefore?: Date | undefined;
  /** 'binary' or 'multiple' (multiple-choice) markets only. */
  type?: MarketType | undefined;
}

export interface MarketPage {
  filters: MarketFilters;
  sort: SortField;
  order: 'asc' | 'desc';
  limit: number;
  offset: number;
  after?: { value: string | number; id: string } | undefined;
  columns: readonly MarketField[];
}

export type MarketRepository = ReturnType<typeof createMarketRepository>;

/**
 * Every column of markets by name (the compiler checks the list against MarketRow), for the
 * prepared lookups: PostgreSQL refuses to run a prepared `select *` once a migration has added a
 * column ("cached plan must not change result type"), which a rolling deploy does while the old
 * instances still serve.
 */
const MARKET_COLUMNS = allColumns<Omit<MarketRow, 'answers'>>({
  id: true,
  slug: true,
  name: true,
  description: true,
  category: true,
  tags: true,
  status: true,
  closesAt: true,
  creatorId: true,
  probability: true,
  volume: true,
  outcome: true,
  resolvedAt: true,
  createdAt: true,
  updatedAt: true,
  version: true,
  liquidity: true,
  type: true,
  shares: true,
  resolvedAnswerIndex: true,
  subsidy: true,
  escrow: true,
  closeAnnouncedAt: true,
  closeDueAt: true,
});

/**
 * A market's answers (id, text) in index order, read with its row (a correlated subquery on
 * `markets.id`, in selects and in RETURNING alike), so every MarketRow carries them.
 */
const answersColumn = sql<
  AnswerRow[]
>`coalesce((select json_agg(json_build_object('id', a.id, 'text', a.text) order by a.index) from market_answers a where a.market_id = markets.id), '[]'::json)`.as(
  'answers',
);

/** The columns behind each API field a list may select (answers are priced from the book). */
function columnsOf(fields: readonly MarketField[]) {
  const columns = new Set<Exclude<keyof MarketRow, 'answers'>>();
  for (const field of fields) {
    if (field === 'answers')
      for (const c of ['shares', 'liquidity', 'probability', 'type'] as const) columns.add(c);
    else if (field === 'yesShares' || field === 'noShares') columns.add('shares').add('type');
    else if (field === 'resolvedAnswerId') columns.add('resolvedAnswerIndex');
    else columns.add(field);
  }
  return [...columns];
}

/**
 * Data access for markets: every query names its columns, every list is bounded and indexed. The
 * only code that writes market rows (funding and settlement included: fund, settle), but for a
 * trade's book, which ledger.repository recordTrade writes with the trade in one statement.
 */
export function createMarketRepository(db: Kysely<DB>) {
  /**
   * The SQL of one page, unexecuted: `list` runs it, and the EXPLAIN test compiles it to check
   * that every filter and sort is served by an index. Fetches one row more than asked to know
   * whether another page follows.
   */
  function listQuery(page: MarketPage) {
    let query = pageSource(page).select(columnsOf(page.columns));
    if (page.columns.includes('answers') || page.columns.includes('resolvedAnswerId'))
      query = query.select(answersColumn);
    if (page.after) {
      const value =
        page.sort === 'createdAt' || page.sort === 'closesAt' ? new Date(page.after.value) : page.after.value;
      query = query.where((eb) =>
        eb(eb.refTuple(page.sort, 'id'), page.order === 'desc' ? '<' : '>', eb.tuple(value, page.after!.id)),
      );
    }
    return query
      .orderBy(page.sort, page.order)
      .orderBy('id', page.order)
      .limit(page.limit + 1)
      .offset(page.after ? 0 : page.offset);
  }

  /**
   * The filtered rows a page is taken from. "closed" means closed, or active past its close
   * time: an OR that no index range returns in sort order, so PostgreSQL walked a sort index
   * discarding every open market (450 ms a page at 100k markets, sorted by close time). As
   * UNION ALL each half is an index range, and the other filters are pushed into both halves.
   */
  function pageSource(page: MarketPage): SelectQueryBuilder<DB, 'markets', object> {
    if (page.filters.status !== 'closed') return applyFilters(db.selectFrom('markets'), page.filters);
    const columns = [
      ...new Set([
        ...columnsOf(page.columns),
        'id',
        'type',
        page.sort,
        'category',
        'creatorId',
        'tags',
        'volume',
        'closesAt',
      ] as const),
    ];
    const closed = db
      .selectFrom('markets')
      .select(columns)
      .where('status', '=', 'closed')
      .unionAll(
        db
          .selectFrom('markets')
          .select(columns)
          .where('status', '=', 'active')
          .where('closesAt', '<=', sql<Date>`now()`),
      );
    // The union has the table's columns under the table's name; the rest of the query reads it as the table.
    const source = db.selectFrom(closed.as('markets')) as unknown as SelectQueryBuilder<
      DB,
      'markets',
      object
    >;
    return applyFilters(source, { ...page.filters, status: undefined });
  }

  function findByIdQuery(id: string, trx: Kysely<DB> = db) {
    return trx.selectFrom('markets').select(MARKET_COLUMNS).select(answersColumn).where('id', '=', id);
  }

  /** Compiled once and prepared (prepared-statements.ts): the hottest read of the service, a unique key's lookup. */
  const lookupById = compiledOnce((id: string) => findByIdQuery(id), 'markets_by_id');
  /** Several markets by id in one statement: the lookups outside transactions, batched per turn. */
  function findByIdsQuery(ids: readonly string[]) {
    return db
      .selectFrom('markets')
      .select(MARKET_COLUMNS)
      .select(answersColumn)
      .where(sql<boolean>`id = any(${sql.val(ids)}::uuid[])`);
  }
  const lookupByIds = compiledOnce((ids: readonly string[]) => findByIdsQuery(ids), 'markets_by_ids');
  // A batch of one is the lookup by id: `id = any($1)`'s generic plan costs PostgreSQL about
  // twice `id = $1`'s (pgbench -M prepared, one id: 7.6k against 15.9k per second).
  const lookupByIdBatched = batchedLookup(
    async (ids) => (await db.executeQuery(ids.length === 1 ? lookupById(ids[0]!) : lookupByIds(ids))).rows,
    (row: MarketRow) => row.id,
  );
  const lookupBySlug = compiledOnce(
    (slug: string) =>
      db.selectFrom('markets').select(MARKET_COLUMNS).select(answersColumn).where('slug', '=', slug),
    'markets_by_slug',
  );
  /**
   * lockForTrade's statement, compiled once (prepared inside the trade's `preparingEvery`); last,
   * the clock once the locks are held, at the ledger's precision: the trade's time.
   */
  const lockForTradeQuery = compiledOnce((id: string, traderId: string) =>
    db
      .with(
        (cte) => cte('locked').materialized(),
        (qb) =>
          qb
            .selectFrom('markets')
            .select(MARKET_COLUMNS)
            .select(answersColumn)
            .where('id', '=', id)
            .forNoKeyUpdate(),
      )
      .selectFrom('locked')
      .select([...MARKET_COLUMNS, 'answers'])
      .select((eb) =>
        eb
          .selectFrom('users')
          .select('balance')
          .where('users.id', '=', traderId)
          .forNoKeyUpdate()
          .as('traderBalance'),
      )
      .select(sql<Date>`clock_timestamp()::timestamptz(3)`.as('lockedAt')),
  );

  function dueClosesQuery(trx: Kysely<DB>, limit: number) {
    return trx
      .selectFrom('markets')
      .selectAll()
      .select(answersColumn)
      .where('closeDueAt', '<=', sql<Date>`now()`)
      .orderBy('closeDueAt')
      .limit(limit)
      .forNoKeyUpdate()
      .skipLocked();
  }

  return {
    listQuery,

    async list(page: MarketPage): Promise<{ rows: Partial<MarketRow>[]; hasMore: boolean }> {
      const rows = await listQuery(page).execute();
      const hasMore = rows.length > page.limit;
      return { rows: hasMore ? rows.slice(0, page.limit) : rows, hasMore };
    },

    async count(filters: MarketFilters): Promise<number> {
      const row = await applyFilters(db.selectFrom('markets'), filters)
        .select((eb) => eb.fn.countAll<number>().as('total'))
        .executeTakeFirstOrThrow();
      return Number(row.total);
    },

    /**
     * Outside a transaction the lookups that start in one turn of the event loop are one
     * statement (batched-lookup.ts).
     */
    async findById(id: string, trx?: Kysely<DB>): Promise<MarketRow | undefined> {
      if (!trx) {
        // A batch's statement casts every key: one that is not a UUID would fail the others too.
        return UUID_PATTERN.test(id) ? lookupByIdBatched(id.toLowerCase()) : undefined;
      }
      const { rows } = await trx.executeQuery(lookupById(id));
      return rows[0];
    },

    /** findById's SQL, unexecuted (the bench runs it through pgbench beside the route). */
    findByIdQuery,

    /**
     * Reads and locks the row until the transaction ends: money-moving writes on one market take
     * turns. First in the lock order of every money path (ledger.repository.ts). FOR NO KEY
     * UPDATE unless the caller will delete the row (then FOR UPDATE, a DELETE's own strength).
     */
    findForUpdate(
      trx: Kysely<DB>,
      idOrSlug: string,
      { forDelete = false }: { forDelete?: boolean } = {},
    ): Promise<MarketRow | undefined> {
      const byId = UUID_PATTERN.test(idOrSlug);
      const query = trx
        .selectFrom('markets')
        .select(MARKET_COLUMNS)
        .select(answersColumn)
        .where(byId ? 'id' : 'slug', '=', byId ? idOrSlug.toLowerCase() : idOrSlug);
      return (forDelete ? query.forUpdate() : query.forNoKeyUpdate()).executeTakeFirst();
    },

    /**
     * findForUpdate by id and, in the same round trip, the trader's row locked after it (the lock
     * order: market, then user): its balance, null when the user is gone; and the time then. The market is locked in
     * a materialized CTE and the user in the outer query's projection over it, which runs only
     * on a market row the CTE has locked, so the trader's row is never locked first or alone.
     */
    async lockForTrade(
      trx: Trx,
      id: string,
      traderId: string,
    ): Promise<{ market: MarketRow; traderBalance: number | null; lockedAt: Date } | undefined> {
      const [row] = (await trx.executeQuery(lockForTradeQuery(id, traderId))).rows;
      if (!row) return undefined;
      const { traderBalance, lockedAt, ...market } = row;
      return { market, traderBalance: traderBalance ?? null, lockedAt };
    },

    async findBySlug(slug: string, trx: Kysely<DB> = db): Promise<MarketRow | undefined> {
      const { rows } = await trx.executeQuery(lookupBySlug(slug));
      return rows[0];
    },

    /** The market row and its answers (in order; a binary market's are YES, NO), in the caller's transaction. */
    async create(
      values: Omit<NewMarketRow, 'shares'>,
      answers: readonly string[],
      trx: Kysely<DB> = db,
    ): Promise<MarketRow> {
      const row = await trx
        .insertInto('markets')
        .values({ ...values, shares: answers.map(() => 0) })
        .returningAll()
        .executeTakeFirstOrThrow();
      const inserted = await trx
        .insertInto('marketAnswers')
        .values(answers.map((text, index) => ({ marketId: row.id, index, text })))
        .returning(['id', 'text', 'index'])
        .execute();
      inserted.sort((a, b) => a.index - b.index);
      return { ...row, answers: inserted.map(({ id, text }) => ({ id, text })) };
    },

    /** Updates when the row still has `expectedVersion` (if given); undefined when it does not. */
    update(
      id: string,
      changes: MarketRowUpdate,
      expectedVersion?: number,
      trx: Kysely<DB> = db,
    ): Promise<MarketRow | undefined> {
      let query = trx
        .updateTable('markets')
        .set({
          ...changes,
          // A close time moved into the future (a reopened market) will be announced again when it passes.
          ...(changes.closesAt !== undefined && {
            closeAnnouncedAt: sql<Date | null>`case when ${changes.closesAt} > now() then null else close_announced_at end`,
          }),
          updatedAt: sql<Date>`now()`,
          version: sql<number>`version + 1`,
        })
        .where('id', '=', id);
      if (expectedVersion !== undefined) query = query.where('version', '=', expectedVersion);
      return query.returningAll().returning(answersColumn).executeTakeFirst();
    },

    /**
     * Active markets whose close time has passed and whose market.closed event is not appended
     * yet, oldest close first, locked for the caller's transaction. SKIP LOCKED: a market another
     * instance's sweep (or a trade, or a settlement) holds is left to that transaction or to the
     * next sweep, so two instances never announce one close twice and never wait on each other.
     * Served by markets_close_due_idx, which holds only open, unannounced markets (008_comments.sql).
     */
    lockDueCloses(trx: Kysely<DB>, limit: number): Promise<MarketRow[]> {
      return dueClosesQuery(trx, limit).execute();
    },

    /** lockDueCloses's SQL, unexecuted (the EXPLAIN test checks it reads the partial index). */
    dueClosesQuery,

    /** Records that these markets' market.closed events are appended in this transaction. */
    async markCloseAnnounced(trx: Kysely<DB>, ids: readonly string[]): Promise<void> {
      if (ids.length === 0) return;
      await trx
        .updateTable('markets')
        .set({ closeAnnouncedAt: sql<Date>`now()` })
        .where('id', 'in', [...ids])
        .execute();
    },

    /** In the creation transaction: the creator's subsidy, which is all the escrow a new market has. */
    fund(trx: Trx, id: string, subsidyCents: number): Promise<MarketRow> {
      return trx
        .updateTable('markets')
        .set({ subsidy: subsidyCents, escrow: subsidyCents })
        .where('id', '=', id)
        .returningAll()
        .returning(answersColumn)
        .executeTakeFirstOrThrow();
    },

    /** Resolved or cancelled: its escrow has been paid out in the same transaction. */
    settle(
      trx: Trx,
      id: string,
      result: { status: 'resolved' | 'cancelled'; outcome: Outcome | null; answerIndex: number | null },
    ): Promise<MarketRow> {
      return trx
        .updateTable('markets')
        .set({
          status: result.status,
          outcome: result.outcome,
          resolvedAnswerIndex: result.answerIndex,
          resolvedAt: sql<Date>`now()`,
          escrow: 0,
          updatedAt: sql<Date>`now()`,
          version: sql<number>`version + 1`,
        })
        .where('id', '=', id)
        .returningAll()
        .returning(answersColumn)
        .executeTakeFirstOrThrow();
    },

    async delete(id: string, trx: Kysely<DB> = db): Promise<boolean> {
      const result = await trx.deleteFrom('markets').where('id', '=', id).executeTakeFirst();
      return result.numDeletedRows > 0n;
    },
  };
}

/** Filters as SQL (search uses them too). "active" and "closed" account for markets whose close time has passed. */
export function applyFilters<O>(query: SelectQueryBuilder<DB, 'markets', O>, filters: MarketFilters) {
  let q = query;
  if (filters.status === 'active') {
    q = q.where('status', '=', 'active').where('closesAt', '>', sql<Date>`now()`);
  } else if (filters.status === 'closed') {
    q = q.where((eb) =>
      eb.or([
        eb('status', '=', 'closed'),
        eb.and([eb('status', '=', 'active'), eb('closesAt', '<=', sql<Date>`now()`)]),
      ]),
    );
  } else if (filters.status) {
    q = q.where('status', '=', filters.status);
  }
  if (filters.category) q = q.where('category', '=', filters.category);
  if (filters.type) q = q.where('type', '=', filters.type);
  if (filters.creatorId) q = q.where('creatorId', '=', filters.creatorId);
  if (filters.tag) q = q.where('tags', '@>', sql<string[]>`array[${filters.tag}]::text[]`);
  if (filters.ids) q = q.where('id', 'in', [...filters.ids]);
  if (filters.volumeMin !== undefined) q = q.where('volume', '>=', filters.volumeMin);
  if (filters.volumeMax !== undefined) q = q.where('volume', '<=', filters.volumeMax);
  if (filters.closesAfter) q = q.where('closesAt', '>=', filters.closesAfter);
  if (filters.closesBefore) q = q.where('closesAt', '<', filters.closesBefore);
  return q;
}
