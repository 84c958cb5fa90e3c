import { type Kysely, type SelectQueryBuilder, sql } from 'kysely';
import type { DB, MarketRow, MarketRowUpdate, NewMarketRow } from '../../db/schema.ts';
import type { MarketField, SortField } from './markets.schemas.ts';

export interface MarketFilters {
  status?: MarketRow['status'] | undefined;
  category?: string | undefined;
  creatorId?: string | undefined;
  tag?: string | undefined;
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

/** Data access for markets: every query names its columns, every list is bounded and indexed. */
export function createMarketRepository(db: Kysely<DB>) {
  return {
    /** One page, fetching one row more than asked to know whether another page follows. */
    async list(page: MarketPage): Promise<{ rows: Partial<MarketRow>[]; hasMore: boolean }> {
      let query = applyFilters(db.selectFrom('markets'), page.filters).select([...page.columns]);
      if (page.after) {
        const value =
          page.sort === 'createdAt' || page.sort === 'closesAt'
            ? new Date(page.after.value)
            : page.after.value;
        query = query.where((eb) =>
          eb(
            eb.refTuple(page.sort, 'id'),
            page.order === 'desc' ? '<' : '>',
            eb.tuple(value, page.after!.id),
          ),
        );
      }
      const rows = await query
        .orderBy(page.sort, page.order)
        .orderBy('id', page.order)
        .limit(page.limit + 1)
        .offset(page.after ? 0 : page.offset)
        .execute();
      const hasMore = rows.length > page.limit;
      return { rows: hasMore ? rows.slice(0, page.limit) : rows, hasMore };
    },

    async count(filters: MarketFilters): Promise<number> {
      const row = await applyFilters(db.selectFrom('markets'), filters)
        .select((eb) => eb.fn.countAll<number>().as('total'))
        .executeTakeFirstOrThrow();
      return Number(row.total);
    },

    findById(id: string, trx: Kysely<DB> = db): Promise<MarketRow | undefined> {
      return trx.selectFrom('markets').selectAll().where('id', '=', id).executeTakeFirst();
    },

    findBySlug(slug: string, trx: Kysely<DB> = db): Promise<MarketRow | undefined> {
      return trx.selectFrom('markets').selectAll().where('slug', '=', slug).executeTakeFirst();
    },

    create(values: NewMarketRow, trx: Kysely<DB> = db): Promise<MarketRow> {
      return trx.insertInto('markets').values(values).returningAll().executeTakeFirstOrThrow();
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
        .set({ ...changes, updatedAt: sql<Date>`now()`, version: sql<number>`version + 1` })
        .where('id', '=', id);
      if (expectedVersion !== undefined) query = query.where('version', '=', expectedVersion);
      return query.returningAll().executeTakeFirst();
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
  if (filters.creatorId) q = q.where('creatorId', '=', filters.creatorId);
  if (filters.tag) q = q.where('tags', '@>', sql<string[]>`array[${filters.tag}]::text[]`);
  return q;
}
