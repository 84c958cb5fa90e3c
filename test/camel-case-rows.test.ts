import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CamelCasePlugin, type QueryResult, sql, type UnknownRow } from 'kysely';
import { CompiledCamelCasePlugin } from '../src/db/camel-case-rows.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from './helpers/databases.ts';

/** Rows of every kind a column can hold: text, numbers, a timestamp, arrays, json with nested objects. */
const MIXED = sql<UnknownRow>`select
  'a' as plain_text, 42::int8 as big_count, 0.25::float8 as some_ratio, null::text as nothing_here,
  timestamptz '2026-12-01T10:00:00Z' as created_at, array['x', 'y'] as tag_list, array[1, 2]::int8[] as share_counts,
  json_build_object('answer_id', 'q', 'inner_list', json_build_array(json_build_object('deep_key', 1), 2)) as nested_json,
  json_build_array(json_build_object('item_text', 'z')) as json_list
  from generate_series(1, 3) as g`;

for (const kind of databaseKinds()) {
  describe(`rows in camelCase, mapped by a compiled function (${kind})`, () => {
    let t: TestDatabase;
    before(async () => {
      t = await createTestDatabase(kind);
    });
    after(() => t.cleanup());

    test("every column and nested key comes out as Kysely's CamelCasePlugin maps it", async () => {
      const kysely = t.database.db.withoutPlugins().withPlugin(new CamelCasePlugin());
      const ours = (await MIXED.execute(t.database.db)).rows;
      const theirs = (await MIXED.execute(kysely)).rows;
      assert.equal(ours.length, 3);
      assert.deepEqual(ours, theirs);
      assert.deepEqual(Object.keys(ours[0]!), [
        'plainText',
        'bigCount',
        'someRatio',
        'nothingHere',
        'createdAt',
        'tagList',
        'shareCounts',
        'nestedJson',
        'jsonList',
      ]);
      assert.ok(ours[0]!.createdAt instanceof Date);
      assert.deepEqual(ours[0]!.nestedJson, { answerId: 'q', innerList: [{ deepKey: 1 }, 2] });
    });

    test('results of other columns get their own mapping, the first one unchanged', async () => {
      const narrow = await sql<UnknownRow>`select 1 as only_one`.execute(t.database.db);
      assert.deepEqual(narrow.rows, [{ onlyOne: 1 }]);
      const again = (await MIXED.execute(t.database.db)).rows;
      assert.equal(again[2]!.plainText, 'a');
      assert.equal(Object.keys(again[2]!).length, 9);
    });
  });
}

describe('the compiled mapping, past what it compiles', () => {
  const result = (rows: UnknownRow[]) => ({
    queryId: { queryId: 'q' },
    result: { rows } as QueryResult<UnknownRow>,
  });

  test('past a thousand column lists, rows are still mapped (as the plugin maps them)', async () => {
    const plugin = new CompiledCamelCasePlugin();
    for (let i = 0; i < 1100; i++) {
      const { rows } = await plugin.transformResult(
        result([{ [`col_${i}`]: i, shared_one: [{ in_it: i }] }]),
      );
      assert.deepEqual(rows, [{ [`col${i}`]: i, sharedOne: [{ inIt: i }] }]);
    }
  });
});
