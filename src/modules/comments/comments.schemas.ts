import { z } from 'zod';
import { ok, uuid } from '../../lib/http-schemas.ts';
import { marketIdParams } from '../markets/index.ts';
import {
  COMMENT_MAX_LENGTH,
  COMMENT_TEXT_PROBLEMS,
  commentTextProblem,
  normaliseCommentText,
} from './comment-text.ts';

/** Bounds the work before normalising: far more than any valid comment, even in white space. */
const RAW_TEXT_MAX = COMMENT_MAX_LENGTH * 4;

const commentText = z
  .string()
  .max(RAW_TEXT_MAX)
  .transform((raw, ctx) => {
    const text = normaliseCommentText(raw);
    const problem = commentTextProblem(text);
    if (problem) {
      ctx.addIssue({ code: 'custom', message: COMMENT_TEXT_PROBLEMS[problem], params: { reason: problem } });
      return z.NEVER;
    }
    return text;
  })
  .describe(
    `Plain text, 1–${COMMENT_MAX_LENGTH} characters after trimming; newlines and tabs allowed, other control characters refused. Markup is kept as text, never interpreted.`,
  );

export const createCommentBody = z.strictObject({
  text: commentText,
  replyTo: uuid
    .optional()
    .describe('A top-level comment of the same market to reply to (one level deep: not a reply)'),
});
export type CreateCommentInput = z.output<typeof createCommentBody>;

export const listCommentsQuery = z.strictObject({
  order: z.enum(['newest', 'oldest']).default('newest').describe('newest first (default) or oldest first'),
  limit: z.coerce.number().int().min(1).max(100).default(20).describe('Comments per page, 1–100'),
  cursor: z.string().min(1).max(500).optional().describe('meta.nextCursor of the previous page'),
});
export type ListCommentsQuery = z.output<typeof listCommentsQuery>;

export const commentParams = marketIdParams.extend({
  commentId: uuid.describe('The comment id'),
});

export const commentSchema = z
  .object({
    id: z.string(),
    marketId: z.string(),
    replyTo: z.string().nullable().describe('The comment this one replies to; null at top level'),
    text: z.string().nullable().describe('Plain text; null once deleted'),
    deleted: z.boolean(),
    author: z
      .object({ id: z.string(), name: z.string() })
      .nullable()
      .describe('null once deleted, or when the account is gone'),
    createdAt: z.string(),
    deletedAt: z.string().nullable(),
  })
  .meta({ id: 'Comment' });
export type CommentDto = z.infer<typeof commentSchema>;

export const commentResponse = ok(commentSchema);
export const commentPageResponse = z.object({
  success: z.literal(true),
  data: z.array(commentSchema),
  meta: z.object({ limit: z.number(), nextCursor: z.string().nullable(), hasMore: z.boolean() }),
});
