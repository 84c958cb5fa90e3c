import { CamelCasePlugin, type PluginTransformResultArgs, type QueryResult, type UnknownRow } from 'kysely';

type RowMapper = (row: UnknownRow, nested: (value: object) => unknown) => UnknownRow;

/** Distinct column lists given a mapper of their own; past this, rows are mapped as Kysely maps them. */
const MAX_MAPPERS = 1000;

/**
 * Kysely's CamelCasePlugin (snake_case in SQL, camelCase in TypeScript), with the rows of each
 * result mapped by one function compiled for their columns (all rows of a result have the same).
 * Each row is then built as one object literal of a fixed shape, where the plugin's `mapRow` adds
 * the keys one by one (and copies every array): a 21-row page of markets mapped in 6 µs instead
 * of 31 µs, and a fraction of the garbage. Nested values (json columns, arrays of them) are
 * mapped by the plugin's own `mapRow`, so results are the same as the plugin's.
 */
export class CompiledCamelCasePlugin extends CamelCasePlugin {
  readonly #mappers = new Map<string, RowMapper>();
  readonly #nested = (value: object): unknown => {
    const map = (v: unknown) => (isPlainObject(v) ? this.mapRow(v as UnknownRow) : v);
    if (Array.isArray(value)) return value.some(isPlainObject) ? value.map(map) : value;
    return map(value);
  };

  override async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    const { rows } = args.result;
    if (!Array.isArray(rows) || rows.length === 0) return super.transformResult(args);
    const mapper = this.#mapperFor(Object.keys(rows[0]!));
    if (!mapper) return super.transformResult(args);
    const nested = this.#nested;
    return { ...args.result, rows: rows.map((row) => mapper(row, nested)) };
  }

  #mapperFor(columns: string[]): RowMapper | undefined {
    const signature = columns.join('\u0000');
    let mapper = this.#mappers.get(signature);
    if (mapper !== undefined || this.#mappers.size >= MAX_MAPPERS) return mapper;
    const keys = columns.map((column) => this.camelCase(column));
    // Column names are data here: each is written as a JSON string literal, never as code. The
    // keys are literal, not computed, so that V8 builds every row from one boilerplate shape (a
    // camelCase key is never `__proto__`, which a literal would take for the prototype).
    const fields = columns.map((column, i) => ({
      read: `const v${i} = row[${JSON.stringify(column)}];`,
      write: `${JSON.stringify(keys[i])}: typeof v${i} === 'object' && v${i} !== null ? nested(v${i}) : v${i}`,
    }));
    mapper = new Function(
      'row',
      'nested',
      `${fields.map((f) => f.read).join('\n')}\nreturn {\n${fields.map((f) => f.write).join(',\n')}\n};`,
    ) as RowMapper;
    this.#mappers.set(signature, mapper);
    return mapper;
  }
}

/** A plain object (as Kysely's plugin decides which nested values to map): not a Date, Buffer or array. */
function isPlainObject(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
