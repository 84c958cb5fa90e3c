import type { CompiledQuery } from 'kysely';
import pg from 'pg';

const STATEMENT = Symbol('prepared statement name');

type NamedParameters = readonly unknown[] & { [STATEMENT]?: string };

/**
 * The query to run as the named prepared statement `name` on PostgreSQL: each connection parses
 * and plans it once (after five executions PostgreSQL keeps a generic plan), then only binds
 * and executes, as `pgbench -M prepared` does. Without it node-postgres sends every statement
 * unnamed, and PostgreSQL parses and plans it anew (the markets table has 13 indexes to weigh).
 *
 * For key lookups only (by id, by slug): their generic plan is the unique index whatever the
 * value. A list page's generic plan can be far worse than the custom one (the category-and-tag
 * page: 630 ms against 29 ms at 100k markets), so pages are not prepared. One name, one SQL
 * text: node-postgres refuses a name reused for another text. PGlite runs it as any query.
 */
export function prepared<R>(name: string, query: CompiledQuery<R>): CompiledQuery<R> {
  const parameters: NamedParameters = Object.assign([...query.parameters], { [STATEMENT]: name });
  return { ...query, parameters };
}

/**
 * The pool's client: a query whose parameters `prepared` named runs as that prepared statement.
 * Kysely hands the compiled query's parameter array to `client.query(sql, parameters)` as it is,
 * which is how the name gets here without Kysely knowing of it. With `enabled` false (a
 * connection pooler in transaction mode, where a prepared statement can land on another server
 * connection) every statement is sent unnamed.
 */
export function preparingClient(enabled: boolean): typeof pg.Client {
  if (!enabled) return pg.Client;
  return class PreparingClient extends pg.Client {
    // biome-ignore lint/suspicious/noExplicitAny: pg's query() has a dozen overloads; this forwards them all.
    override query(config: any, values?: any, callback?: any): any {
      const name = Array.isArray(values) ? (values as NamedParameters)[STATEMENT] : undefined;
      if (typeof config === 'string' && name !== undefined)
        return super.query({ name, text: config, values: values as unknown[] }, callback);
      return super.query(config, values, callback);
    }
  };
}
