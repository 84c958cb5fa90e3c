export interface PeriodicTask {
  /** Runs now, or once more right after the run in progress (which may have started too early). */
  trigger(): void;
  /** Stops the timer and waits for a run in progress. */
  stop(): Promise<void>;
}

/**
 * Runs `task` now and then every `intervalMs`, never two runs at once, on a timer that does not
 * keep the process alive. A run that fails is reported to `onError`; the next one still comes.
 */
export function startPeriodicTask(
  intervalMs: number,
  task: () => Promise<void>,
  onError: (error: unknown) => void,
): PeriodicTask {
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  const run = () => {
    running ??= task()
      .catch(onError)
      .finally(() => {
        running = undefined;
        if (again && !stopped) {
          again = false;
          run();
        }
      });
  };
  const timer = setInterval(run, intervalMs).unref();
  run();
  return {
    trigger() {
      if (stopped) return;
      if (running) again = true;
      else run();
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      while (running) await running;
    },
  };
}
