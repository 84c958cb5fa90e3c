import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { marketIdParams } from '../markets/index.ts';
import { SseStream, type SseStreamOptions } from './sse-stream.ts';
import { eventsStreamQuery, marketStreamQuery, streamHeaders, streamResponses } from './streams.schemas.ts';
import type { StreamsService } from './streams.service.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The response stays open (a stream): its duration is not a latency (metrics leave it out). */
    longLived?: boolean;
  }
}

interface Deps {
  service: StreamsService;
  /** Whose stream slot a request takes: its user when signed in, else its IP. */
  clientOf: (request: FastifyRequest) => Promise<string>;
  draining: AbortSignal;
  stream: SseStreamOptions;
}

/**
 * HTTP only: check everything that can refuse the stream (answered in the envelope), then take the
 * response over and write text/event-stream. Headers set by the onRequest hooks (request id,
 * security headers, CORS) are carried over, since a taken-over reply skips onSend.
 */
export function streamsRoutes({ service, clientOf, draining, stream: options }: Deps): FastifyPluginAsyncZod {
  async function serve(
    request: FastifyRequest,
    reply: FastifyReply,
    markets: string[] | undefined,
    query: { lastEventId?: number | undefined },
  ) {
    // Validated by streamHeaders: digits only (the header wins: EventSource sends it on reconnecting).
    const raw = request.headers['last-event-id'];
    const header = raw === undefined ? undefined : Number(raw);
    const prepared = await service.prepare({
      markets,
      after: header ?? query.lastEventId,
      client: await clientOf(request),
    });
    reply.hijack();
    const stream = new SseStream(reply.raw, reply.getHeaders() as Record<string, string>, options);
    if (draining.aborted) {
      // Started while this instance drains: the client goes elsewhere after `retry`.
      prepared.release();
      stream.end('shutting-down');
      return;
    }
    const onDrain = () => stream.end('shutting-down');
    draining.addEventListener('abort', onDrain, { once: true });
    stream.onClose(() => draining.removeEventListener('abort', onDrain));
    await service.run(stream, prepared);
  }

  return async (app) => {
    const config = { permission: 'public' as const, longLived: true };
    app.get(
      '/markets/:id/events',
      {
        config,
        schema: {
          tags: ['streams'],
          summary: "A market's events as Server-Sent Events, resumable with Last-Event-ID",
          params: marketIdParams,
          querystring: marketStreamQuery,
          headers: streamHeaders,
          response: streamResponses,
        },
      },
      (request, reply) => serve(request, reply, [request.params.id], request.query),
    );

    app.get(
      '/events',
      {
        config,
        schema: {
          tags: ['streams'],
          summary: 'Events of several markets (or all) as Server-Sent Events, resumable with Last-Event-ID',
          querystring: eventsStreamQuery,
          headers: streamHeaders,
          response: streamResponses,
        },
      },
      (request, reply) => serve(request, reply, request.query.markets, request.query),
    );
  };
}
