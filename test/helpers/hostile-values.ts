import fc from 'fast-check';

/** A JSON Schema as /openapi.json writes one (the subset our Zod schemas produce). */
export interface JsonSchema {
  type?: string;
  enum?: unknown[];
  anyOf?: JsonSchema[];
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  items?: JsonSchema;
  maxItems?: number;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  $ref?: string;
}

/** Shaped like UUIDs; only some are. */
export const UUID_LIKE = [
  '-'.repeat(36),
  'zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz',
  '00000000-0000-0000-0000-000000000000',
  'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF',
  '0b8f4f5e-9d55-4d8a-9a53-5c0b6e1f6a01',
];

const bad = (...parts: unknown[]) => Buffer.from(JSON.stringify(parts)).toString('base64url');
const NOW = new Date().toISOString();

/** Values that broke services like this one: injection, encodings, edge dates, forged cursors. */
export const HOSTILE_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\uFEFFbom',
  '\u202Eevil',
  '\uD800',
  '😀😀',
  'e\u0301',
  "' OR 1=1 --",
  '"; DROP TABLE users; --',
  '../../etc/passwd',
  '%00',
  '%zz',
  '{{7*7}}',
  '$' + '{7*7}', // template injection, split so it is not a template literal
  '<script>alert(1)</script>',
  '__proto__',
  'constructor',
  'NaN',
  'Infinity',
  '-Infinity',
  '-0',
  '1e309',
  '1e-400',
  '0x10',
  '9007199254740993',
  '-1',
  'null',
  'true',
  '[]',
  '{}',
  'x'.repeat(600),
  'é'.repeat(5001),
  '-'.repeat(36),
  'zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz',
  '00000000-0000-0000-0000-000000000000',
  'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF',
  '+275760-09-13T00:00:00.000Z',
  '-271821-04-20T00:00:00.000Z',
  '0000-01-01T00:00:00Z',
  '9999-12-31T23:59:59.999Z',
  '2026-02-30T00:00:00Z',
  '2026-13-01T00:00:00Z',
  '1970-01-01T00:00:00Z',
  bad('createdAt', 'desc', NOW, '-'.repeat(36)),
  bad('createdAt', 'desc', '+275760-09-13T00:00:00.000Z', '0b8f4f5e-9d55-4d8a-9a53-5c0b6e1f6a01'),
  bad('createdAt', 'desc', '0000-01-01T00:00:00.000Z', '0b8f4f5e-9d55-4d8a-9a53-5c0b6e1f6a01'),
  bad('volume', 'desc', 1e300, '0b8f4f5e-9d55-4d8a-9a53-5c0b6e1f6a01'),
  bad('volume', 'desc', -1, '0b8f4f5e-9d55-4d8a-9a53-5c0b6e1f6a01'),
  bad('probability', 'desc', 'NaN', '0b8f4f5e-9d55-4d8a-9a53-5c0b6e1f6a01'),
  bad('name', 'asc', 'a\u0000', '0b8f4f5e-9d55-4d8a-9a53-5c0b6e1f6a01'),
  bad('name', 'asc', { $gt: '' }, '0b8f4f5e-9d55-4d8a-9a53-5c0b6e1f6a01'),
  bad('createdAt', 'desc', NOW),
  Buffer.from('not json').toString('base64url'),
];

export const HOSTILE_NUMBERS = [
  0,
  -0,
  -1,
  1e-13,
  5e-324,
  1e-7,
  0.001,
  0.005,
  0.1 + 0.2,
  1e-9,
  Number.MAX_VALUE,
  Number.MAX_SAFE_INTEGER,
  2 ** 53 + 2,
  1e21,
  -1e21,
  999_999_999.999,
  1_000_000_000.01,
  0.999999999999,
  1,
];

const hostileString = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...HOSTILE_STRINGS) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
);
const hostileNumber = fc.oneof(
  fc.constantFrom(...HOSTILE_NUMBERS),
  fc.double(),
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 }),
);

/** Any JSON value of the wrong kind: strings, numbers, nulls, arrays, objects. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: hostileString },
  { weight: 2, arbitrary: hostileNumber },
  { weight: 1, arbitrary: fc.constantFrom(null, true, false, [], {}, [null], { $ne: null }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
);

/** Close to the schema's domain, where bugs live: edges, just past them, and hostile neighbours. */
export function nearValue(schema: JsonSchema, resolve: (s: JsonSchema) => JsonSchema): fc.Arbitrary<unknown> {
  const s = resolve(schema);
  if (s.enum) return fc.constantFrom(...s.enum);
  if (s.anyOf) return fc.oneof(...s.anyOf.map((x) => nearValue(x, resolve)));
  switch (s.type) {
    case 'string': {
      if (s.format === 'date-time') {
        return fc.oneof(
          fc
            .date({ min: new Date(-8.64e15), max: new Date(8.64e15), noInvalidDate: true })
            .map((d) => d.toISOString()),
          fc
            .date({
              min: new Date(Date.now() + 60_000),
              max: new Date(Date.now() + 200 * 365 * 86_400_000),
              noInvalidDate: true,
            })
            .map((d) => d.toISOString()),
          fc.constantFrom(...HOSTILE_STRINGS.filter((x) => /^[+-]?\d{4,6}-/.test(x))),
        );
      }
      if (s.format === 'uuid') return fc.oneof(fc.uuid(), fc.constantFrom(...UUID_LIKE));
      const lengths = { minLength: 0, maxLength: Math.min((s.maxLength ?? 60) + 2, 80) };
      const options = [fc.string({ ...lengths, unit: 'grapheme' })];
      if (s.pattern && s.pattern.length < 80) {
        options.push(fc.stringMatching(new RegExp(s.pattern), { maxLength: lengths.maxLength }));
      }
      return fc.oneof(...options);
    }
    case 'integer':
      return fc.oneof(
        fc.integer({ min: (s.minimum ?? -1000) - 2, max: (s.maximum ?? 1000) + 2 }),
        fc.constantFrom(...HOSTILE_NUMBERS),
      );
    case 'number':
      return fc.oneof(
        fc.double({ min: s.exclusiveMinimum ?? s.minimum ?? -1e9, max: s.maximum ?? 1e9, noNaN: true }),
        fc.constantFrom(...HOSTILE_NUMBERS),
      );
    case 'boolean':
      return fc.boolean();
    case 'array':
      return fc.array(valueFor(s.items ?? {}, resolve), { maxLength: (s.maxItems ?? 5) + 2 });
    case 'object':
      return objectFor(s, resolve);
    default:
      return hostileValue;
  }
}

/** Mostly near the schema, sometimes anything at all. */
export function valueFor(schema: JsonSchema, resolve: (s: JsonSchema) => JsonSchema): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 3, arbitrary: nearValue(schema, resolve) },
    { weight: 1, arbitrary: hostileValue },
  );
}

/** Each property present or not, near its schema or hostile, plus now and then a key that must not exist. */
export function objectFor(
  schema: JsonSchema,
  resolve: (s: JsonSchema) => JsonSchema,
  overrides: Record<string, fc.Arbitrary<unknown>> = {},
): fc.Arbitrary<Record<string, unknown>> {
  const props = Object.fromEntries(
    Object.entries(schema.properties ?? {}).map(([k, v]) => [k, overrides[k] ?? valueFor(v, resolve)]),
  );
  return fc
    .tuple(
      fc.record(props, { requiredKeys: [] }),
      fc.option(
        fc.dictionary(
          fc.constantFrom('role', 'balance', 'id', 'status', '__proto__', 'constructor', ''),
          hostileValue,
          {
            maxKeys: 2,
          },
        ),
        { freq: 8 },
      ),
    )
    .map(([known, extra]) => ({ ...known, ...(extra ?? {}) }));
}

/** What a query string or header can carry: text. */
export const asText = (value: unknown): string =>
  typeof value === 'string' ? value : value === undefined ? '' : JSON.stringify(value);

/** Bodies no schema describes: broken JSON, huge numbers JSON.parse turns into Infinity or 0, deep nesting. */
export const RAW_BODIES = [
  '',
  '{',
  'null',
  '"text"',
  '[]',
  '{"amount":1e999,"outcome":"YES","side":"buy"}',
  '{"amount":1e-400,"outcome":"YES","side":"sell"}',
  '{"liquidity":1e999}',
  '{"__proto__":{"role":"admin"}}',
  '{"constructor":{"prototype":{"role":"admin"}}}',
  `${'['.repeat(2000)}${']'.repeat(2000)}`,
  '{"name":"a","name":"b"}',
  '\u0000',
  '\uFEFF{}',
];

/** A value the schema accepts: the base that mutations start from, so the rest of a request is valid. */
export function validValue(
  schema: JsonSchema,
  resolve: (s: JsonSchema) => JsonSchema,
): fc.Arbitrary<unknown> {
  const s = resolve(schema);
  if (s.enum) return fc.constantFrom(...s.enum);
  if (s.anyOf) return validValue(s.anyOf[0]!, resolve);
  const min = s.minLength ?? 0;
  const max = Math.min(s.maxLength ?? 30, 30);
  switch (s.type) {
    case 'string':
      if (s.format === 'date-time') {
        return fc
          .integer({ min: 1, max: 3650 })
          .map((days) => new Date(Date.now() + days * 86_400_000).toISOString());
      }
      if (s.format === 'uuid') return fc.uuid();
      if (s.format === 'email') return fc.constant('someone@example.com');
      if (s.pattern && s.pattern.length < 80) {
        return fc
          .stringMatching(new RegExp(s.pattern), { maxLength: max })
          .filter((v) => v.length >= min && v.length <= max);
      }
      return fc.string({
        unit: fc.constantFrom(...'abcdefghij'),
        minLength: Math.max(min, 1),
        maxLength: Math.max(max, min, 1),
      });
    case 'integer':
      return fc.integer({ min: s.minimum ?? 0, max: Math.min(s.maximum ?? 100, 100) });
    case 'number':
      return (s.maximum ?? 2) <= 1
        ? fc.integer({ min: 1, max: 99 }).map((c) => c / 100)
        : fc.integer({ min: 1, max: 100_000 }).map((c) => c / 100);
    case 'boolean':
      return fc.boolean();
    case 'array':
      return fc.array(validValue(s.items ?? {}, resolve), { maxLength: Math.min(s.maxItems ?? 3, 3) });
    case 'object':
      return fc.record(
        Object.fromEntries(Object.entries(s.properties ?? {}).map(([k, v]) => [k, validValue(v, resolve)])),
        { requiredKeys: s.required ?? [] },
      );
    default:
      return fc.constant('x');
  }
}

/** A valid object with one or two of its properties replaced by edge or hostile values. */
export function mutatedObject(
  schema: JsonSchema,
  resolve: (s: JsonSchema) => JsonSchema,
  overrides: Record<string, fc.Arbitrary<unknown>> = {},
): fc.Arbitrary<Record<string, unknown>> {
  const props = schema.properties ?? {};
  const keys = Object.keys(props);
  if (keys.length === 0) return fc.constant({});
  // Overrides hold in the valid base too (a registration must keep a taken email).
  const base = fc.record(
    Object.fromEntries(keys.map((k) => [k, overrides[k] ?? validValue(props[k]!, resolve)])),
    { requiredKeys: schema.required ?? [] },
  );
  const replacement = Object.fromEntries(keys.map((k) => [k, overrides[k] ?? valueFor(props[k]!, resolve)]));
  return fc
    .tuple(
      base,
      fc.subarray(keys, { minLength: 1, maxLength: Math.min(2, keys.length) }),
      fc.record(replacement),
    )
    .map(([valid, chosen, values]) => {
      const out = { ...valid };
      for (const k of chosen) out[k] = values[k];
      return out;
    });
}

/** Keyset cursors of every sort, with parts of the wrong kind or range. */
export const forgedCursor: fc.Arbitrary<string> = fc
  .tuple(
    fc.constantFrom('createdAt', 'closesAt', 'volume', 'probability', 'name', 'other'),
    fc.constantFrom('asc', 'desc', 'up'),
    fc.oneof(
      fc
        .date({ min: new Date(-8.64e15), max: new Date(8.64e15), noInvalidDate: true })
        .map((d) => d.toISOString()),
      fc.constantFrom(...HOSTILE_STRINGS.filter((x) => /^[+-]?\d{4,6}-/.test(x))),
      hostileNumber,
      hostileValue,
    ),
    fc.oneof(fc.uuid(), fc.constantFrom(...UUID_LIKE), hostileString),
  )
  .map((parts) => Buffer.from(JSON.stringify(parts)).toString('base64url'));
