import { randomUUID } from 'node:crypto';
import {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
  LogController,
} from 'fastify';
import fp from 'fastify-plugin';

const SANE_REQUEST_ID = /^[\w.:-]{1,128}$/;

/** Fastify options for ids and logs: echo a sane incoming x-request-id, else a new UUID. */
export function requestIdOptions(): Pick<FastifyServerOptions, 'genReqId' | 'logController'> {
  return {
    genReqId: (req) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && SANE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
    // One line per finished request, written below, instead of Fastify's two.
    logController: new LogController({ requestIdLogLabel: 'requestId', disableRequestLogging: true }),
  };
}

/**
 * Every response carries x-request-id; every finished request is one structured log line. The
 * hooks of every request (here and in the other plugins) take a callback rather than being async
 * where they have nothing to wait for: an async hook costs a promise and a turn of the microtask
 * queue per request.
 */
async function requestContext(app: FastifyInstance) {
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    logRequestCompleted(request, reply);
    done();
  });
}

export const requestContextPlugin = fp(requestContext, { name: 'request-context', dependencies: [] });

/** When the request arrived: a deadline counts from then (sign-in and body parsing included). */
export function receivedAt(reply: FastifyReply): number {
  return Date.now() - reply.elapsedTime;
}

/** The one line a finished request leaves in the log (also written for requests no route saw). */
export function logRequestCompleted(request: FastifyRequest, reply: FastifyReply, route?: string) {
  const status = reply.statusCode;
  // 503: a dependency is away or a deadline passed (see the error handler), not a defect here.
  const level = status >= 500 && status !== 503 ? 'error' : status >= 400 ? 'warn' : 'info';
  request.log[level](
    {
      method: request.method,
      route: route ?? request.routeOptions.url ?? 'not-found',
      status,
      durationMs: Math.round(reply.elapsedTime * 100) / 100,
      userId: request.user?.id,
    },
    'request completed',
  );
}
