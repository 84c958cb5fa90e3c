import { type Kysely, sql } from 'kysely';
import type { CommentRow, DB } from '../../db/schema.ts';

/** A comment with its author's display name (null once the account is gone). */
export type CommentWithAuthor = CommentRow & { authorName: string | null };

export interface CommentPage {
  marketId: string;
  order: 'asc' | 'desc';
  limit: number;
  after?: { createdAt: Date; id: string } | undefined;
}

export type CommentRepository = ReturnType<typeof createCommentRepository>;

/**
 * Data access for comments (008_comments.sql); every page is an index range of (market_id, created_at, id).
 * Pages are read through `read` (a replica when DATABASE_READ_URL is set: a page may lag, a client's
 * own comment shows when it presents its consistency token); everything else goes to the primary.
 */
export function createCommentRepository(db: Kysely<DB>, read: Kysely<DB> = db) {
  const withAuthor = (source: Kysely<DB>) =>
    source
      .selectFrom('comments')
      .leftJoin('users', 'users.id', 'comments.authorId')
      .selectAll('comments')
      .select('users.name as authorName');

  /** The SQL of one page, unexecuted (the EXPLAIN test compiles it); one row more tells whether more follow. */
  function pageQuery({ marketId, order, limit, after }: CommentPage) {
    let query = withAuthor(read).where('comments.marketId', '=', marketId);
    if (after) {
      query = query.where((eb) =>
        eb(
          eb.refTuple('comments.createdAt', 'comments.id'),
          order === 'desc' ? '<' : '>',
          eb.tuple(after.createdAt, after.id),
        ),
      );
    }
    return query
      .orderBy('comments.createdAt', order)
      .orderBy('comments.id', order)
      .limit(limit + 1);
  }

  return {
    pageQuery,

    async page(page: CommentPage): Promise<{ rows: CommentWithAuthor[]; hasMore: boolean }> {
      const rows = await pageQuery(page).execute();
      const hasMore = rows.length > page.limit;
      return { rows: hasMore ? rows.slice(0, page.limit) : rows, hasMore };
    },

    /**
     * The comment a reply names, share-locked until the transaction ends: a concurrent delete of
     * it waits, so a reply is never attached to a comment that was tombstoned meanwhile.
     */
    findParentForShare(trx: Kysely<DB>, id: string) {
      return trx
        .selectFrom('comments')
        .select(['id', 'marketId', 'replyTo', 'deletedAt'])
        .where('id', '=', id)
        .forShare()
        .executeTakeFirst();
    },

    /** One statement: the new row and its author's name. */
    insert(
      trx: Kysely<DB>,
      values: { marketId: string; authorId: string; replyTo: string | null; text: string },
    ): Promise<CommentWithAuthor> {
      return trx
        .with('inserted', (qb) => qb.insertInto('comments').values(values).returningAll())
        .selectFrom('inserted')
        .leftJoin('users', 'users.id', 'inserted.authorId')
        .selectAll('inserted')
        .select('users.name as authorName')
        .executeTakeFirstOrThrow() as Promise<CommentWithAuthor>;
    },

    /** The comment of this market, row-locked for a delete. */
    findForUpdate(trx: Kysely<DB>, marketId: string, id: string): Promise<CommentWithAuthor | undefined> {
      return withAuthor(trx)
        .where('comments.id', '=', id)
        .where('comments.marketId', '=', marketId)
        .forUpdate('comments')
        .executeTakeFirst();
    },

    /** Text gone, row and thread kept. */
    tombstone(trx: Kysely<DB>, id: string, deletedBy: string): Promise<CommentRow> {
      return trx
        .updateTable('comments')
        .set({ text: null, deletedAt: sql<Date>`clock_timestamp()`, deletedBy })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirstOrThrow();
    },
  };
}
