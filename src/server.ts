import { loadConfig } from './config/env.ts';
import { DataDirInUseError, type RunningService, startService } from './service.ts';

/** Entry point: start the API; on SIGTERM/SIGINT drain, then stop gracefully. */
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
let endDrain: (() => void) | undefined;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, async () => {
    if (stopping) {
      endDrain?.(); // a second signal (Ctrl-C twice) cuts the drain short
      return;
    }
    stopping = true;
    // Drain first: /readyz fails so that the load balancer stops sending, while everything it
    // still sends is answered, with `Connection: close`. Closing the listener (and the idle
    // keep-alive sockets) at once would reset requests already on their way.
    service.app.log.info({ signal, drainMs: config.SHUTDOWN_DRAIN_MS }, 'shutting down: draining');
    service.app.startDraining();
    await new Promise<void>((resolve) => {
      endDrain = resolve;
      setTimeout(resolve, config.SHUTDOWN_DRAIN_MS);
    });
    endDrain = undefined;
    service.app.log.info('drained: no longer accepting; waiting for the requests in flight');
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
