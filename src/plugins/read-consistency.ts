import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Database } from '../db/database.ts';
import { parseLsn, withReadConsistency } from '../db/read-consistency.ts';
import { ApiError } from '../lib/errors.ts';

export const CONSISTENCY_HEADER = 'x-consistency-token';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Read-your-writes with read replicas. A successful write's response carries
 * `X-Consistency-Token` (a WAL position taken after its commit, and after the cache was
 * invalidated); a request that presents it has its reads held to that position: a replica serves
 * them only once it has replayed that far, otherwise the primary does. A token that is not a WAL
 * position is a 400. Without replicas no token is issued and a presented one changes nothing.
 */
export const readConsistencyPlugin = fp(
  async (app: FastifyInstance, { database }: { database: Pick<Database, 'consistencyToken'> }) => {
    app.addHook('onRequest', (request, _reply, done) => {
      const header = request.headers[CONSISTENCY_HEADER];
      if (header === undefined) return done();
      const lsn = typeof header === 'string' ? parseLsn(header) : undefined;
      if (lsn === undefined) {
        return done(
          ApiError.badRequest(
            'X-Consistency-Token must be the token a write returned (a WAL position such as 16/B374D848)',
          ),
        );
      }
      // Everything after this hook (the handler, the cache's loads) runs in this context.
      withReadConsistency(lsn, done);
    });

    // onSend runs once the handler has returned: the write has committed and invalidated the cache.
    // Reads pass straight through (no promise per read); a successful write waits for its token.
    app.addHook('onSend', (request, reply, payload, done) => {
      if (SAFE_METHODS.has(request.method) || reply.statusCode >= 400) return done(null, payload);
      database.consistencyToken().then(
        (token) => {
          if (token) reply.header(CONSISTENCY_HEADER, token);
          done(null, payload);
        },
        (error: unknown) => {
          // The primary went away after answering the write: the client reads without a token.
          request.log.warn({ err: error }, 'could not take a consistency token for this write');
          done(null, payload);
        },
      );
    });
  },
  { name: 'read-consistency', dependencies: [] },
);
