import type { Kysely } from 'kysely';
import { pgErrorCode } from '../../db/errors.ts';
import type { DB } from '../../db/schema.ts';
import { inTransaction } from '../../db/transaction.ts';
import { decodeCursor, encodeCursor } from '../../lib/cursor.ts';
import { ApiError } from '../../lib/errors.ts';
import { UUID_PATTERN } from '../../lib/slug.ts';
import { type AuthUser, canModify } from '../auth/index.ts';
import type { EventRepository } from '../events/index.ts';
import type { MarketRepository } from '../markets/index.ts';
import { toCommentDto } from './comment-dto.ts';
import type { CommentRepository } from './comments.repository.ts';
import type { CommentDto, CreateCommentInput, ListCommentsQuery } from './comments.schemas.ts';

export type CommentsService = ReturnType<typeof createCommentsService>;

interface Deps {
  db: Kysely<DB>;
  comments: CommentRepository;
  markets: Pick<MarketRepository, 'findById' | 'findBySlug'>;
  /** Each create and delete appends its event as the last statement of its transaction. */
  events: Pick<EventRepository, 'append'>;
}

const ORDERS = { newest: 'desc', oldest: 'asc' } as const;

/** Comments on a market: plain text, replies one level deep, tombstones on delete. */
export function createCommentsService({ db, comments, markets, events }: Deps) {
  async function marketIdOf(idOrSlug: string): Promise<string> {
    const market = UUID_PATTERN.test(idOrSlug)
      ? await markets.findById(idOrSlug.toLowerCase())
      : await markets.findBySlug(idOrSlug);
    if (!market) throw ApiError.notFound('Market');
    return market.id;
  }

  return {
    async create(user: AuthUser, idOrSlug: string, input: CreateCommentInput): Promise<CommentDto> {
      const marketId = await marketIdOf(idOrSlug);
      const replyTo = input.replyTo?.toLowerCase() ?? null;
      try {
        return await inTransaction(db, async (trx) => {
          if (replyTo) {
            const parent = await comments.findParentForShare(trx, replyTo);
            if (!parent || parent.marketId !== marketId) {
              throw new ApiError(400, 'REPLY_TO_NOT_FOUND', 'replyTo names no comment of this market');
            }
            if (parent.replyTo !== null) {
              throw ApiError.conflict(
                'Replies are one level deep: reply to the comment this one replies to',
                'REPLY_TOO_DEEP',
              );
            }
            if (parent.deletedAt !== null) {
              throw ApiError.conflict(
                'That comment was deleted: it takes no new replies',
                'REPLY_TO_DELETED',
              );
            }
          }
          const row = await comments.insert(trx, { marketId, authorId: user.id, replyTo, text: input.text });
          const dto = toCommentDto(row);
          await events.append(trx, { type: 'comment.created', marketId, payload: dto });
          return dto;
        });
      } catch (error) {
        // The market was deleted between our read and the insert (its foreign key), or the author's account.
        if (pgErrorCode(error) === '23503') throw ApiError.notFound('Market');
        throw error;
      }
    },

    async list(idOrSlug: string, query: ListCommentsQuery) {
      const marketId = await marketIdOf(idOrSlug);
      const order = ORDERS[query.order];
      const expected = { sort: 'createdAt', order, kind: 'timestamp' } as const;
      const cursor = query.cursor ? decodeCursor(query.cursor, expected) : undefined;
      const { rows, hasMore } = await comments.page({
        marketId,
        order,
        limit: query.limit,
        after: cursor && { createdAt: new Date(cursor.value), id: cursor.id },
      });
      const last = rows.at(-1);
      return {
        data: rows.map(toCommentDto),
        meta: {
          limit: query.limit,
          hasMore,
          nextCursor:
            hasMore && last
              ? encodeCursor({ ...expected, value: last.createdAt.toISOString(), id: last.id })
              : null,
        },
      };
    },

    /**
     * Tombstones a comment (its author, a moderator or an admin). Deleting a deleted comment again
     * answers the same tombstone and appends nothing: a retried DELETE is harmless.
     */
    async remove(user: AuthUser, idOrSlug: string, commentId: string): Promise<CommentDto> {
      const marketId = await marketIdOf(idOrSlug);
      return inTransaction(db, async (trx) => {
        const row = await comments.findForUpdate(trx, marketId, commentId.toLowerCase());
        if (!row) throw ApiError.notFound('Comment');
        if (!canModify(user, row.authorId ?? '')) {
          throw ApiError.forbidden('Only its author or a moderator may delete this comment');
        }
        if (row.deletedAt !== null) return toCommentDto(row);
        const tombstone = toCommentDto({
          ...(await comments.tombstone(trx, row.id, user.id)),
          authorName: null,
        });
        await events.append(trx, { type: 'comment.deleted', marketId, payload: tombstone });
        return tombstone;
      });
    },
  };
}
