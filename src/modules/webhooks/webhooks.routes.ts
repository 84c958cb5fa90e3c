import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errorResponses } from '../../lib/http-schemas.ts';
import {
  createWebhookBody,
  deliveryListResponse,
  deliveryParams,
  deliveryResponse,
  listDeliveriesQuery,
  webhookIdParams,
  webhookListResponse,
  webhookResponse,
  webhookWithSecretResponse,
} from './webhooks.schemas.ts';
import type { WebhooksService } from './webhooks.service.ts';

const tags = ['webhooks'];

/** /api/me/webhooks: the caller's own subscriptions. Any signed-in role; every-market ones for admins. */
export function webhooksRoutes(webhooks: WebhooksService): FastifyPluginAsyncZod {
  return async (app) => {
    app.post(
      '/',
      {
        config: { permission: 'write', scope: 'webhooks:write', noStore: true },
        schema: {
          tags,
          summary: 'Subscribe a URL to events; the response is the only time the signing secret is shown',
          body: createWebhookBody,
          response: { 201: webhookWithSecretResponse, ...errorResponses(400, 401, 403, 409, 413, 415) },
        },
      },
      async (request, reply) => {
        const created = await webhooks.create(request.user!, request.body);
        return reply.status(201).send({ success: true as const, data: created });
      },
    );

    app.get(
      '/',
      {
        config: { permission: 'read', scope: 'read' },
        schema: {
          tags,
          summary: 'My webhook subscriptions (never their secrets)',
          response: { 200: webhookListResponse, ...errorResponses(401, 403) },
        },
      },
      async (request) => ({ success: true as const, data: await webhooks.list(request.user!) }),
    );

    app.get(
      '/:id',
      {
        config: { permission: 'read', scope: 'read' },
        schema: {
          tags,
          summary: 'One of my webhook subscriptions',
          params: webhookIdParams,
          response: { 200: webhookResponse, ...errorResponses(400, 401, 403, 404) },
        },
      },
      async (request) => ({
        success: true as const,
        data: await webhooks.get(request.user!, request.params.id),
      }),
    );

    app.delete(
      '/:id',
      {
        config: { permission: 'write', scope: 'webhooks:write' },
        schema: {
          tags,
          summary: 'Delete one of my webhook subscriptions and its delivery log',
          params: webhookIdParams,
          response: { 204: z.null().describe('Deleted'), ...errorResponses(400, 401, 403, 404) },
        },
      },
      async (request, reply) => {
        await webhooks.remove(request.user!, request.params.id);
        return reply.status(204).send(null);
      },
    );

    app.post(
      '/:id/rotate-secret',
      {
        config: { permission: 'write', scope: 'webhooks:write', noStore: true },
        schema: {
          tags,
          summary:
            'Issue a new signing secret, shown this once; the previous one also signs for 24 hours (a second v1)',
          params: webhookIdParams,
          response: { 200: webhookWithSecretResponse, ...errorResponses(400, 401, 403, 404) },
        },
      },
      async (request) => ({
        success: true as const,
        data: await webhooks.rotateSecret(request.user!, request.params.id),
      }),
    );

    app.post(
      '/:id/enable',
      {
        config: { permission: 'write', scope: 'webhooks:write' },
        schema: {
          tags,
          summary: 'Enable a disabled subscription again; delivery resumes where it stopped',
          params: webhookIdParams,
          response: { 200: webhookResponse, ...errorResponses(400, 401, 403, 404) },
        },
      },
      async (request) => ({
        success: true as const,
        data: await webhooks.enable(request.user!, request.params.id),
      }),
    );

    app.get(
      '/:id/deliveries',
      {
        config: { permission: 'read', scope: 'read' },
        schema: {
          tags,
          summary: 'The deliveries of one subscription, newest event first, dead letters included',
          params: webhookIdParams,
          querystring: listDeliveriesQuery,
          response: { 200: deliveryListResponse, ...errorResponses(400, 401, 403, 404) },
        },
      },
      async (request) => ({
        success: true as const,
        ...(await webhooks.deliveries(request.user!, request.params.id, request.query)),
      }),
    );

    app.post(
      '/:id/deliveries/:deliveryId/replay',
      {
        config: { permission: 'write', scope: 'webhooks:write' },
        schema: {
          tags,
          summary: 'Send a dead-lettered delivery again (in the background; outside the in-order stream)',
          params: deliveryParams,
          response: { 202: deliveryResponse, ...errorResponses(400, 401, 403, 404, 409) },
        },
      },
      async (request, reply) => {
        const delivery = await webhooks.replay(request.user!, request.params.id, request.params.deliveryId);
        return reply.status(202).send({ success: true as const, data: delivery });
      },
    );
  };
}
