import type { RateLimitOptions } from '@fastify/rate-limit';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { createTaggedBodyMemo } from '../../lib/body-memo.ts';
import { errorResponses } from '../../lib/http-schemas.ts';
import { marketIdParams } from '../markets/index.ts';
import {
  commentPageResponse,
  commentParams,
  commentResponse,
  createCommentBody,
  listCommentsQuery,
} from './comments.schemas.ts';
import type { CommentsService } from './comments.service.ts';

/** Comments HTTP under /api/markets/:id/comments. */
export function commentsRoutes(
  service: CommentsService,
  /** Comments per user per minute (rate-limit.ts `commentRateLimit`); undefined: the general limit. */
  commentLimit: RateLimitOptions | undefined,
): FastifyPluginAsyncZod {
  // Each page is fresh from the database (not frozen): the memo only gives it an ETag over its body.
  const sendPage = createTaggedBodyMemo<object>();
  return async (app) => {
    app.post(
      '/:id/comments',
      {
        config: {
          permission: 'write',
          scope: 'comments:write',
          ...(commentLimit && { rateLimit: commentLimit }),
        },
        schema: {
          tags: ['comments'],
          summary: 'Comment on a market, or reply to a top-level comment (plain text)',
          params: marketIdParams,
          body: createCommentBody,
          response: {
            201: commentResponse,
            ...errorResponses(400, 401, 403, 404, 409, 413, 415, 429),
          },
        },
      },
      async (request, reply) => {
        const comment = await service.create(request.user!, request.params.id, request.body);
        reply.status(201).header('location', `/api/markets/${comment.marketId}/comments/${comment.id}`);
        return { success: true as const, data: comment };
      },
    );

    app.get(
      '/:id/comments',
      {
        config: { permission: 'public' },
        schema: {
          tags: ['comments'],
          summary:
            "A market's comments and replies, newest or oldest first (cursor pagination; If-None-Match with its ETag: 304)",
          params: marketIdParams,
          querystring: listCommentsQuery,
          headers: z.object({ 'if-none-match': z.string().max(1000).optional() }),
          response: {
            200: commentPageResponse,
            304: z.null().describe('Not modified: your copy of this page with this ETag is current'),
            ...errorResponses(400, 404),
          },
        },
      },
      async (request, reply) => {
        const page = await service.list(request.params.id, request.query);
        return sendPage(request, reply, page, () => ({ success: true as const, ...page }));
      },
    );

    app.delete(
      '/:id/comments/:commentId',
      {
        config: { permission: 'write', scope: 'comments:write' },
        schema: {
          tags: ['comments'],
          summary:
            'Delete a comment (author, moderator or admin): a tombstone, replies stay; repeating it is harmless',
          params: commentParams,
          response: { 200: commentResponse, ...errorResponses(400, 401, 403, 404) },
        },
      },
      async (request) => ({
        success: true as const,
        data: await service.remove(request.user!, request.params.id, request.params.commentId),
      }),
    );
  };
}
