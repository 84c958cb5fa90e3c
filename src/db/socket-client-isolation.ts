import type { PGlite } from '@electric-sql/pglite';

/** A simple-protocol Query message ('Q', length, text, NUL) for `ROLLBACK`. */
const ROLLBACK_MESSAGE = (() => {
  const text = Buffer.from('ROLLBACK\0');
  const message = Buffer.alloc(5 + text.length);
  message.write('Q', 0);
  message.writeInt32BE(4 + text.length, 1);
  text.copy(message, 5);
  return new Uint8Array(message);
})();

/**
 * The PGlite that the socket server (scripts, `npm run worker`) is given, so that their
 * transactions and the app's stay apart on PGlite's one session.
 *
 * PGlite's own transactions hold its transaction lock, but the socket server runs each client
 * message under the query lock only: a script's statement could land between two statements of
 * an app transaction, and the app's statements inside a script's open transaction (the app's
 * COMMIT would then commit the script's work, or the script's ROLLBACK undo the app's). Here
 * every client message also takes the transaction lock, and a message that leaves a transaction
 * open keeps that lock until the client ends it (or disconnects, and the socket server rolls back).
 */
export function isolateSocketClients(pglite: PGlite): PGlite {
  let release: (() => void) | undefined;

  /** Takes PGlite's transaction lock and keeps it until `release` is called. */
  const hold = () =>
    new Promise<() => void>((held) => {
      void pglite._runExclusiveTransaction(() => new Promise<void>((done) => held(done)));
    });

  const settle = () => {
    if (release && !pglite.isInTransaction()) {
      release();
      release = undefined;
    }
  };

  const overrides = {
    async runExclusive<T>(work: () => Promise<T>): Promise<T> {
      release ??= await hold();
      try {
        return await pglite.runExclusive(work);
      } finally {
        settle();
      }
    },
    /** The socket server asks before picking the next message: only a client's own transaction counts. */
    isInTransaction: () => release !== undefined && pglite.isInTransaction(),
    /** The socket server's ROLLBACK for a client that left mid-transaction; the lock is ours already. */
    async exec(query: string) {
      if (!release || query !== 'ROLLBACK') return pglite.exec(query);
      try {
        await pglite.runExclusive(() =>
          pglite.execProtocolRawStream(ROLLBACK_MESSAGE, { onRawData: () => {} }),
        );
      } finally {
        // That client is gone: whatever the ROLLBACK did, the app may go on.
        release();
        release = undefined;
      }
      return [];
    },
  };

  return new Proxy(pglite, {
    get(target, property) {
      if (Object.hasOwn(overrides, property)) return overrides[property as keyof typeof overrides];
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
