import { rm } from 'node:fs/promises';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.ts';
import type { Config } from './config/env.ts';
import { resolveJwtSecret } from './config/jwt-secret.ts';
import { migrate } from './db/migrate.ts';
import { openDatabaseFromConfig, pgliteSocketPath, serverSocketAnswers } from './db/open-from-config.ts';
import { isolateSocketClients } from './db/socket-client-isolation.ts';

export interface RunningService {
  app: FastifyInstance;
  address: string;
  stop(): Promise<void>;
}

/**
 * Opens the database, migrates, builds the app and listens. With PGlite it also serves the
 * database on a Unix socket in DATA_DIR, so `npm run token|seed|migrate` can use it while
 * the server holds the data dir (PGlite allows one process per data dir).
 */
export async function startService(config: Config): Promise<RunningService> {
  // Two processes on one PGlite data dir corrupt it; the socket of a running server says so.
  if (!config.DATABASE_URL && (await serverSocketAnswers(pgliteSocketPath(config)))) {
    throw new DataDirInUseError(
      `DATA_DIR ${config.DATA_DIR} is in use by a running server; stop it or use another DATA_DIR`,
    );
  }
  const database = await openDatabaseFromConfig(config);
  const applied = await migrate(database);
  const { secret, generated } = await resolveJwtSecret(config);
  const app = await buildApp({ config, database, jwtSecret: secret });
  if (applied.length > 0) app.log.info({ migrations: applied }, 'migrations applied');
  if (generated)
    app.log.warn('JWT_SECRET is not set: using a generated secret kept in DATA_DIR (set it in production)');

  let socketServer: PGLiteSocketServer | undefined;
  if (database.pglite) {
    const path = pgliteSocketPath(config);
    await rm(path, { force: true });
    socketServer = new PGLiteSocketServer({
      db: isolateSocketClients(database.pglite),
      path,
      maxConnections: 4,
    });
    await socketServer.start();
  }

  const address = await app.listen({ port: config.PORT, host: config.HOST });
  return {
    app,
    address,
    async stop() {
      await socketServer?.stop();
      // Stops accepting, closes idle keep-alive sockets and waits for in-flight requests; only then
      // is the database closed. server.ts drains before this.
      await app.close();
      await database.close();
    },
  };
}

export class DataDirInUseError extends Error {}
