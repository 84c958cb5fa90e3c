/**
 * Calls that start in the same turn of the event loop, run as one (the DataLoader pattern;
 * Prisma batches findUnique the same way): `run` gets every call's input, in the order the calls
 * came, and answers one output for each, in that order. Under load an instance reads many
 * requests from its sockets in one turn: their statements (or Redis commands) then cost one round
 * trip between them, and the process one write and one parse of the answer instead of many. A
 * call alone waits only for the end of the turn it started in (setImmediate), which its request's
 * own I/O would take anyway. When `run` fails, every call of its turn fails with the same error,
 * as each would have failed alone. For PostgreSQL, only statements outside a transaction: a
 * transaction's statements must run on its own connection, in its own order.
 */
export function coalescedPerTurn<I, O>(
  run: (inputs: I[]) => Promise<readonly O[]>,
  {
    oneAtATime = false,
  }: {
    /**
     * While a run is in flight the calls wait and go together in the next one, started as it
     * ends (group commit): for statements that take turns in the database anyway, a second one
     * in flight would only wait there, holding a pool connection, and split the batch.
     */
    oneAtATime?: boolean;
  } = {},
): (input: I) => Promise<O> {
  let pending: { input: I; resolve(output: O): void; reject(error: unknown): void }[] | undefined;
  let running = false;

  function flush() {
    if (!pending || (oneAtATime && running)) return;
    const calls = pending;
    pending = undefined;
    running = true;
    run(calls.map((call) => call.input))
      .then(
        (outputs) => {
          for (const [i, call] of calls.entries()) call.resolve(outputs[i]!);
        },
        (error: unknown) => {
          for (const call of calls) call.reject(error);
        },
      )
      .finally(() => {
        running = false;
        if (oneAtATime) flush();
      });
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
