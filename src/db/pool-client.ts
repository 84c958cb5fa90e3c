import pg from 'pg';
import { beginSettings } from './begin-settings.ts';
import { statementName } from './prepared-statements.ts';

/**
 * The PostgreSQL pool's client. Two things Kysely cannot ask node-postgres for:
 * - A statement named by `prepared` or `preparingEvery` runs as that named prepared statement.
 *   With `preparedStatements` false (a connection pooler in transaction mode, where a prepared
 *   statement can land on another server connection) every statement is sent unnamed.
 * - A BEGIN opened with a deadline (transaction.ts) carries its statement_timeout, `begin; set
 *   local statement_timeout = N`, in one round trip (a simple query may hold two statements) rather
 *   than a second statement after it. N is a whole number of milliseconds we computed, never input.
 */
export function poolClient(preparedStatements: boolean): typeof pg.Client {
  return class PoolClient extends pg.Client {
    // biome-ignore lint/suspicious/noExplicitAny: pg's query() has a dozen overloads; this forwards them all.
    override query(config: any, values?: any, callback?: any): any {
      if (typeof config !== 'string' || !Array.isArray(values)) return super.query(config, values, callback);
      if (config === 'begin' && values.length === 0) {
        const settings = beginSettings.getStore();
        if (settings && !settings.carried) {
          settings.carried = true;
          const ms = Math.max(1, Math.ceil(settings.statementTimeoutMs()));
          return super.query(`begin; set local statement_timeout = ${ms}`, callback);
        }
      }
      const name = preparedStatements ? statementName(config, values) : undefined;
      if (name !== undefined)
        return super.query({ name, text: config, values: values as unknown[] }, callback);
      return super.query(config, values, callback);
    }
  };
}
