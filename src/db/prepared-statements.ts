import { AsyncLocalStorage } from 'node:async_hooks';
import { type Compilable, type CompiledQuery, createQueryId } from 'kysely';

const STATEMENT = Symbol('prepared statement name');

/** Set while `preparingEvery` runs its work. */
const everyStatement = new AsyncLocalStorage<true>();
/** Statement names by SQL text, for the statements `preparingEvery` prepares (one name, one text). */
const namesByText = new Map<string, string>();
/** Past this many texts, further ones go unnamed (each connection keeps every statement it prepared). */
const MAX_NAMED_TEXTS = 500;

type NamedParameters = readonly unknown[] & { [STATEMENT]?: string };

/**
 * A statement whose SQL text is the same whatever its keys (a lookup or a lock by id), compiled
 * once: `build` runs once, with placeholder keys, and each call binds its own keys to that text.
 * Building and compiling a Kysely query is about a tenth of the CPU of an uncached read by id;
 * this spends it once per process.
 *
 * With `name`, every call runs as the named prepared statement `name` on PostgreSQL: each
 * connection parses and plans it once (after five executions PostgreSQL keeps a generic plan),
 * then only binds and executes, as `pgbench -M prepared` does. Without it node-postgres sends every
 * statement unnamed, and PostgreSQL parses and plans it anew (the markets table has 13 indexes to
 * weigh). For key lookups only (by id, by slug): their generic plan is the unique index whatever
 * the value. A list page's generic plan can be far worse than the custom one (the category-and-tag
 * page: 630 ms against 29 ms at 100k markets), so pages are not prepared. One name, one SQL text:
 * node-postgres refuses a name reused for another text. PGlite runs it as any query. Without
 * `name`, the statement is named only inside `preparingEvery`.
 */
export function compiledOnce<K extends (string | readonly string[])[], R>(
  build: (...keys: K) => Compilable<R>,
  name?: string,
): (...keys: K) => CompiledQuery<R> {
  let template: { compiled: CompiledQuery<R>; keyAt: number[] } | undefined;
  return (...keys) => {
    if (!template) {
      const placeholders = keys.map((_, i) => `\u0000key ${i}\u0000`) as K;
      const compiled = build(...placeholders).compile();
      const keyAt = compiled.parameters.map((p) => placeholders.indexOf(p as string));
      if (!placeholders.every((_, i) => keyAt.includes(i)))
        throw new Error(`compiledOnce: a key is not a parameter of ${compiled.sql}`);
      template = { compiled, keyAt };
    }
    const { compiled, keyAt } = template;
    const values = compiled.parameters.map((p, j) => (keyAt[j]! >= 0 ? keys[keyAt[j]!] : p));
    const parameters: NamedParameters = name ? Object.assign(values, { [STATEMENT]: name }) : values;
    return { ...compiled, queryId: createQueryId(), parameters };
  };
}

/**
 * Runs `work` with every parameterised statement it sends prepared, each under a name of its
 * own SQL text. For work made of key lookups and key writes only, as a trade's transaction is
 * (lock by id, insert, update by id, upsert by key): their generic plans are the keys' indexes,
 * and preparing them spares PostgreSQL parsing and planning each again (every index of
 * markets is weighed for a trade's update of its row).
 */
export function preparingEvery<T>(work: () => Promise<T>): Promise<T> {
  return everyStatement.run(true, work);
}

/**
 * A statement whose result is `*` (select *, returning *) stays unnamed: a column that a migration
 * adds while the service runs would change its result type, which PostgreSQL refuses for a
 * prepared statement ("cached plan must not change result type"), failing it on every connection
 * that had prepared it.
 */
const READS_EVERY_COLUMN = /(^|[\s,.])\*(?=[\s,]|$)/;

function nameOfText(text: string): string | undefined {
  let name = namesByText.get(text);
  if (name === undefined && namesByText.size < MAX_NAMED_TEXTS && !READS_EVERY_COLUMN.test(text)) {
    name = `every_${namesByText.size + 1}`;
    namesByText.set(text, name);
  }
  return name;
}

/**
 * The name `text` runs under, if any: the one `compiledOnce` gave its parameters, or, inside
 * `preparingEvery`, one of its own text. Kysely hands the compiled query's parameter array to
 * `client.query(sql, parameters)` as it is, which is how the name gets to the pool's client
 * (pool-client.ts) without Kysely knowing of it.
 */
export function statementName(text: string, values: readonly unknown[]): string | undefined {
  return (
    (values as NamedParameters)[STATEMENT] ??
    (values.length > 0 && everyStatement.getStore() ? nameOfText(text) : undefined)
  );
}
