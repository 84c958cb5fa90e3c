import type { RateLimitOptions } from '@fastify/rate-limit';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { errorResponses } from '../../lib/http-schemas.ts';
import { receivedAt } from '../../plugins/request-context.ts';
import { marketIdParams } from '../markets/markets.schemas.ts';
import {
  orderbookResponse,
  orderIdParams,
  orderPageResponse,
  orderResponse,
  ordersQuery,
  placeOrderBody,
  placeOrderResponse,
} from './orders.schemas.ts';
import type { OrdersService } from './orders.service.ts';

/** Limit orders HTTP: placing under /api/markets/:id, the caller's under /api/me, a market's resting book. */
export function ordersRoutes(
  orders: OrdersService,
  tradeLimit: RateLimitOptions | undefined,
): FastifyPluginAsyncZod {
  return async (app) => {
    app.post(
      '/api/markets/:id/orders',
      {
        config: { permission: 'write', scope: 'trade', ...(tradeLimit && { rateLimit: tradeLimit }) },
        schema: {
          tags: ['trading'],
          summary: 'Place a limit order: fills now as far as the limit allows, the rest rests (reserved)',
          params: marketIdParams,
          body: placeOrderBody,
          response: {
            201: placeOrderResponse,
            ...errorResponses(400, 401, 403, 404, 409, 413, 415, 422, 429),
          },
        },
      },
      async (request, reply) => {
        const data = await orders.place(request.user!, request.params.id, request.body, receivedAt(reply));
        return reply.status(201).send({ success: true as const, data });
      },
    );

    app.get(
      '/api/markets/:id/orderbook',
      {
        config: { permission: 'public' },
        schema: {
          tags: ['trading'],
          summary: 'Resting limit orders: size per price level, outcome and side',
          params: marketIdParams,
          response: { 200: orderbookResponse, ...errorResponses(400, 404) },
        },
      },
      async (request) => ({ success: true as const, data: await orders.orderbook(request.params.id) }),
    );

    app.get(
      '/api/me/orders',
      {
        config: { permission: 'read', scope: 'read' },
        schema: {
          tags: ['trading'],
          summary: 'Your limit orders, newest first (filter by status, cursor pagination)',
          querystring: ordersQuery,
          response: { 200: orderPageResponse, ...errorResponses(400, 401, 403) },
        },
      },
      async (request) => ({
        success: true as const,
        ...(await orders.myOrders(request.user!.id, request.query)),
      }),
    );

    app.delete(
      '/api/me/orders/:id',
      {
        config: { permission: 'write', scope: 'trade' },
        schema: {
          tags: ['trading'],
          summary: 'Cancel an open limit order; its reservation returns at once',
          params: orderIdParams,
          response: { 200: orderResponse, ...errorResponses(400, 401, 403, 404, 409) },
        },
      },
      async (request, reply) => ({
        success: true as const,
        data: await orders.cancel(request.user!, request.params.id, receivedAt(reply)),
      }),
    );
  };
}
