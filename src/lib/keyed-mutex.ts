/**
 * Runs tasks with the same key one after another, in arrival order; different keys run freely.
 * Trades on one hot market queue here instead of each holding a pool connection while it
 * waits for the market's row lock (the lock still orders them across instances).
 */
export function createKeyedMutex() {
  const tails = new Map<string, Promise<unknown>>();
  async function run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = tails.get(key) ?? Promise.resolve();
    const current = previous.then(task, task);
    const tail = current.catch(() => undefined);
    tails.set(key, tail);
    try {
      return await current;
    } finally {
      if (tails.get(key) === tail) tails.delete(key);
    }
  }
  /** Resolves once every queued task has finished (shutdown waits for it before closing the database). */
  async function idle(): Promise<void> {
    while (tails.size > 0) await Promise.all(tails.values());
  }
  return { run, idle };
}
