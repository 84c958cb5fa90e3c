import { loadConfig } from './config/env.ts';
import { DataDirInUseError, type RunningService, startService } from './service.ts';

/** Entry point: start the API, stop gracefully on SIGTERM/SIGINT. */
let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
} catch (error) {
  console.error((error as Error).message);
  process.exit(1);
}
let service: RunningService;
try {
  service = await startService(config);
} catch (error) {
  console.error(error instanceof DataDirInUseError ? error.message : error);
  process.exit(1);
}

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    service.app.log.info({ signal }, 'shutting down');
    let timedOut = false;
    // In-flight requests get SHUTDOWN_TIMEOUT_MS. Then their connections are cut, so that close()
    // can still close the database cleanly; the exit code says the stop was not clean.
    const cut = setTimeout(() => {
      timedOut = true;
      service.app.log.error(
        { timeoutMs: config.SHUTDOWN_TIMEOUT_MS },
        'shutdown timed out; closing the remaining connections',
      );
      service.app.server.closeAllConnections();
      setTimeout(() => process.exit(1), 5000).unref(); // if even that hangs
    }, config.SHUTDOWN_TIMEOUT_MS);
    cut.unref();
    service.stop().then(
      () => process.exit(timedOut ? 1 : 0),
      (error: unknown) => {
        service.app.log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  });
}
