import type { CommentWithAuthor } from './comments.repository.ts';
import type { CommentDto } from './comments.schemas.ts';

/** The API shape; a tombstone keeps its place in the thread but neither its text nor its author. */
export function toCommentDto(row: CommentWithAuthor): CommentDto {
  const deleted = row.deletedAt !== null;
  return {
    id: row.id,
    marketId: row.marketId,
    replyTo: row.replyTo,
    text: deleted ? null : row.text,
    deleted,
    author:
      deleted || row.authorId === null || row.authorName === null
        ? null
        : { id: row.authorId, name: row.authorName },
    createdAt: row.createdAt.toISOString(),
    deletedAt: row.deletedAt?.toISOString() ?? null,
  };
}
