/** Keys one statement looks up at most; a larger batch is split. */
const MAX_KEYS = 100;

/**
 * Calls that start in the same turn of the event loop, run as one (the DataLoader pattern;
 * Prisma batches findUnique the same way): `run` gets every call's input, in the order the calls
 * came, and answers one output for each, in that order. Under load an instance reads many
 * requests from its sockets in one turn: their statements then cost PostgreSQL one round trip
 * between them, and the process one write and one wake-up of a backend instead of many. A call
 * alone waits only for the end of the turn it started in (setImmediate), which its request's own
 * I/O would take anyway. When `run` fails, every call of its turn fails with the same error, as
 * each would have failed alone. Only for statements outside a transaction: a transaction's
 * statements must run on its own connection, in its own order.
 */
export function coalescedPerTurn<I, O>(
  run: (inputs: I[]) => Promise<readonly O[]>,
): (input: I) => Promise<O> {
  let pending: { input: I; resolve(output: O): void; reject(error: unknown): void }[] | undefined;

  function flush() {
    const calls = pending!;
    pending = undefined;
    run(calls.map((call) => call.input)).then(
      (outputs) => {
        for (const [i, call] of calls.entries()) call.resolve(outputs[i]!);
      },
      (error: unknown) => {
        for (const call of calls) call.reject(error);
      },
    );
  }

  return (input) =>
    new Promise<O>((resolve, reject) => {
      if (!pending) {
        pending = [];
        setImmediate(flush);
      }
      pending.push({ input, resolve, reject });
    });
}

/**
 * Lookups by key, coalesced per turn: one statement for the distinct keys of a turn (at most
 * MAX_KEYS each). `loadMany` answers the rows found, in any order; `keyOf` names each row's key
 * as the callers spell it; a key no row has answers undefined.
 */
export function batchedLookup<R>(
  loadMany: (keys: string[]) => Promise<readonly R[]>,
  keyOf: (row: R) => string,
): (key: string) => Promise<R | undefined> {
  return coalescedPerTurn(async (keys: string[]) => {
    const distinct = [...new Set(keys)];
    const chunks: string[][] = [];
    for (let i = 0; i < distinct.length; i += MAX_KEYS) chunks.push(distinct.slice(i, i + MAX_KEYS));
    const found = new Map<string, R>();
    for (const rows of await Promise.all(chunks.map(loadMany)))
      for (const row of rows) found.set(keyOf(row), row);
    return keys.map((key) => found.get(key));
  });
}
