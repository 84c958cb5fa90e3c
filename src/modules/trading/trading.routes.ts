import type { RateLimitOptions } from '@fastify/rate-limit';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { errorResponses } from '../../lib/http-schemas.ts';
import { receivedAt } from '../../plugins/request-context.ts';
import { marketIdParams, marketResponse } from '../markets/markets.schemas.ts';
import type { PortfolioService } from './portfolio.service.ts';
import type { SettlementService } from './settlement.service.ts';
import {
  answerChoiceOf,
  historyQuery,
  idempotencyHeaders,
  ledgerResponse,
  positionListResponse,
  positionsQuery,
  quoteResponse,
  resolveBody,
  tradeBody,
  tradePageResponse,
  tradeResultResponse,
} from './trading.schemas.ts';
import type { TradingService } from './trading.service.ts';

interface Services {
  trading: TradingService;
  settlement: SettlementService;
  portfolio: PortfolioService;
}

/** Trading HTTP: trades and positions under /api/markets/:id, the caller's under /api/me, the ledger for admins. */
export function tradingRoutes(
  { trading, settlement, portfolio }: Services,
  /** Trades per user per minute, stricter than the general limit (rate-limit.ts `tradeRateLimit`). */
  tradeLimit: RateLimitOptions | undefined,
): FastifyPluginAsyncZod {
  return async (app) => {
    app.post(
      '/api/markets/:id/trades',
      {
        config: { permission: 'write', scope: 'trade', ...(tradeLimit && { rateLimit: tradeLimit }) },
        schema: {
          tags: ['trading'],
          summary: 'Buy or sell shares at the LMSR price (Idempotency-Key makes retries safe)',
          params: marketIdParams,
          headers: idempotencyHeaders,
          body: tradeBody,
          response: {
            201: tradeResultResponse,
            ...errorResponses(400, 401, 403, 404, 409, 413, 415, 422, 429),
          },
        },
      },
      async (request, reply) => {
        const { side, quantity, maxProbability, minProbability } = request.body;
        const result = await trading.trade(
          request.user!,
          request.params.id,
          { ...answerChoiceOf(request.body), side, quantity, maxProbability, minProbability },
          {
            idempotencyKey: request.headers['idempotency-key'],
            abandoned: () => request.raw.socket?.destroyed === true,
            receivedAt: receivedAt(reply),
          },
        );
        if (result.replayed) reply.header('idempotent-replayed', 'true');
        return reply.status(201).send({ success: true as const, data: result.body });
      },
    );

    app.post(
      '/api/markets/:id/quote',
      {
        // A read: the general rate limit, not the trade limit.
        config: { permission: 'read', scope: 'read' },
        schema: {
          tags: ['trading'],
          summary: 'What this trade would do now, at the same price and rounding; changes nothing',
          description:
            'Same body as POST /api/markets/:id/trades, same 404/409/422 refusals; the slippage guard is reported in `guard`, not refused.',
          params: marketIdParams,
          body: tradeBody,
          response: { 200: quoteResponse, ...errorResponses(400, 401, 403, 404, 409, 413, 415, 422, 429) },
        },
      },
      async (request, reply) => {
        const { side, quantity, maxProbability, minProbability } = request.body;
        const data = await trading.quote(
          request.user!,
          request.params.id,
          { ...answerChoiceOf(request.body), side, quantity, maxProbability, minProbability },
          { receivedAt: receivedAt(reply) },
        );
        return { success: true as const, data };
      },
    );

    app.get(
      '/api/markets/:id/trades',
      {
        config: { permission: 'public' },
        schema: {
          tags: ['trading'],
          summary: "A market's trades, newest first (cursor pagination)",
          params: marketIdParams,
          querystring: historyQuery.omit({ include: true }),
          response: { 200: tradePageResponse, ...errorResponses(400, 404) },
        },
      },
      async (request) => ({
        success: true as const,
        ...(await portfolio.marketTrades(request.params.id, request.query)),
      }),
    );

    app.get(
      '/api/markets/:id/positions',
      {
        config: { permission: 'public' },
        schema: {
          tags: ['trading'],
          summary: "A market's open positions, largest first",
          params: marketIdParams,
          querystring: positionsQuery,
          response: { 200: positionListResponse, ...errorResponses(400, 404) },
        },
      },
      async (request) => ({
        success: true as const,
        data: await portfolio.marketPositions(request.params.id, request.query),
      }),
    );

    app.get(
      '/api/me/trades',
      {
        config: { permission: 'read', scope: 'read' },
        schema: {
          tags: ['trading'],
          summary: 'Your trades, newest first; include=market joins each market in the same query',
          querystring: historyQuery,
          response: { 200: tradePageResponse, ...errorResponses(400, 401, 403) },
        },
      },
      async (request) => ({
        success: true as const,
        ...(await portfolio.myTrades(request.user!.id, request.query)),
      }),
    );

    app.get(
      '/api/me/positions',
      {
        config: { permission: 'read', scope: 'read' },
        schema: {
          tags: ['trading'],
          summary: 'Your positions; include=market joins each market in the same query',
          querystring: historyQuery.pick({ include: true }),
          response: { 200: positionListResponse, ...errorResponses(400, 401, 403) },
        },
      },
      async (request) => ({
        success: true as const,
        data: await portfolio.myPositions(request.user!.id, request.query.include),
      }),
    );

    app.post(
      '/api/markets/:id/resolve',
      {
        config: { permission: 'write', scope: 'markets:write' },
        schema: {
          tags: ['trading'],
          summary: 'Resolve: winning shares pay 1 unit each, the rest of escrow returns to the creator',
          description: 'Moderators and admins at any time; the creator once the market has closed.',
          params: marketIdParams,
          body: resolveBody,
          response: { 200: marketResponse, ...errorResponses(400, 401, 403, 404, 409, 413, 415) },
        },
      },
      async (request, reply) => ({
        success: true as const,
        data: await settlement.resolve(
          request.user!,
          request.params.id,
          answerChoiceOf(request.body),
          receivedAt(reply),
        ),
      }),
    );

    app.post(
      '/api/markets/:id/cancel',
      {
        config: { permission: 'delete', scope: 'markets:write' },
        schema: {
          tags: ['trading'],
          summary: "Cancel: refund each trader's net spend and the creator's subsidy (moderator or admin)",
          params: marketIdParams,
          response: { 200: marketResponse, ...errorResponses(400, 401, 403, 404, 409) },
        },
      },
      async (request, reply) => ({
        success: true as const,
        data: await settlement.cancel(request.user!, request.params.id, receivedAt(reply)),
      }),
    );

    app.get(
      '/api/admin/ledger',
      {
        config: { permission: 'admin', scope: 'admin' },
        schema: {
          tags: ['admin'],
          summary: 'Money conservation: granted = balances + escrow',
          response: { 200: ledgerResponse, ...errorResponses(401, 403) },
        },
      },
      async () => ({ success: true as const, data: await portfolio.ledger() }),
    );
  };
}
