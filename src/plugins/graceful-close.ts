import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * Aborted when this instance starts to drain (SIGTERM) or to close. Long-lived responses
     * (streams) listen for its `abort` and end with a reconnect hint, so that their clients move
     * to another instance while this one still answers.
     */
    draining: AbortSignal;
    /** From now on /readyz fails and every answer asks its client to hang up; serving goes on. */
    startDraining(): void;
  }
}

/**
 * Draining, then closing. A balancer stops sending only once its health check has seen /readyz
 * fail, so the server keeps answering meanwhile; `Connection: close` on those answers makes
 * clients leave their kept-alive sockets one by one, after an answer, instead of having an idle
 * socket closed under a request they are sending (a reset). The same holds for requests still
 * running when close() starts: their connections then close after the answer, not at
 * SHUTDOWN_TIMEOUT_MS.
 */
async function gracefulClose(app: FastifyInstance) {
  const draining = new AbortController();
  app.decorate('draining', draining.signal);
  app.decorate('startDraining', () => {
    if (!draining.signal.aborted) draining.abort();
  });
  app.addHook('preClose', async () => app.startDraining());
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (draining.signal.aborted) reply.header('connection', 'close');
    done(null, payload);
  });
}

export const gracefulClosePlugin = fp(gracefulClose, { name: 'graceful-close', dependencies: [] });
