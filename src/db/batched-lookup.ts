/** Keys one statement looks up at most; a larger batch is split. */
const MAX_KEYS = 100;

interface Waiter<R> {
  resolve(row: R | undefined): void;
  reject(error: unknown): void;
}

/**
 * Lookups by key that start in the same turn of the event loop, sent as one statement for all
 * their keys (the DataLoader pattern; Prisma batches findUnique the same way). Under load, the
 * requests an instance reads from its sockets in one turn each look a market up: with this they
 * cost PostgreSQL one round trip between them, not one each, and the process one write and one
 * wake-up of a backend instead of many. A lookup alone waits only for the end of the turn it
 * started in (setImmediate), which a request's own I/O would take anyway.
 *
 * `loadMany` answers the rows found, in any order; `keyOf` names each row's key as the callers
 * spell it. A failed statement fails every lookup of its batch with the same error, as each would
 * have failed alone. Only for reads outside a transaction: a transaction's statements must run
 * on its own connection, in its own order.
 */
export function batchedLookup<R>(
  loadMany: (keys: string[]) => Promise<readonly R[]>,
  keyOf: (row: R) => string,
): (key: string) => Promise<R | undefined> {
  let pending: Map<string, Waiter<R>[]> | undefined;

  function run(batch: Map<string, Waiter<R>[]>) {
    loadMany([...batch.keys()]).then(
      (rows) => {
        for (const row of rows) {
          for (const waiter of batch.get(keyOf(row)) ?? []) waiter.resolve(row);
          batch.delete(keyOf(row));
        }
        for (const waiters of batch.values()) for (const waiter of waiters) waiter.resolve(undefined);
      },
      (error: unknown) => {
        for (const waiters of batch.values()) for (const waiter of waiters) waiter.reject(error);
      },
    );
  }

  function flush() {
    const keys = pending!;
    pending = undefined;
    let batch = new Map<string, Waiter<R>[]>();
    for (const [key, waiters] of keys) {
      batch.set(key, waiters);
      if (batch.size === MAX_KEYS) {
        run(batch);
        batch = new Map();
      }
    }
    if (batch.size > 0) run(batch);
  }

  return (key) =>
    new Promise<R | undefined>((resolve, reject) => {
      if (!pending) {
        pending = new Map();
        setImmediate(flush);
      }
      const waiters = pending.get(key);
      if (waiters) waiters.push({ resolve, reject });
      else pending.set(key, [{ resolve, reject }]);
    });
}
