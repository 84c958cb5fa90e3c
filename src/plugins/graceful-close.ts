import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

/**
 * A request still running when close() starts keeps its keep-alive connection open after the
 * answer, and close() waits for that connection (until SHUTDOWN_TIMEOUT_MS, then exit 1): answers
 * sent while closing tell their clients to hang up.
 */
export const gracefulClosePlugin = fp(async (app: FastifyInstance) => {
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close');
  });
});
