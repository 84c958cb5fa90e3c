import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * What the BEGIN of the transaction being opened should carry: transaction.ts sets it around
 * `db.transaction()`, the pool's client (pool-client.ts) reads it when Kysely sends that BEGIN.
 */
export interface BeginSettings {
  /** The statement_timeout, in ms, that the transaction starts with (what is left of its deadline). */
  statementTimeoutMs: () => number;
  /** Set by the client once the BEGIN carried it (else the transaction sets it itself). */
  carried: boolean;
}

export const beginSettings = new AsyncLocalStorage<BeginSettings>();
