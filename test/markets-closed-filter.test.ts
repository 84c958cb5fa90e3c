import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { seedSampleData } from '../scripts/lib/seed-database.ts';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { databaseKinds } from './helpers/databases.ts';

for (const kind of databaseKinds()) {
  describe(`status=closed lists (${kind})`, () => {
    let t: TestApp;
    before(async () => {
      t = await buildTestApp(kind);
      await seedSampleData(t.database.db, { markets: 400, users: 10, seed: 3 });
    });
    after(() => t.close());

    /** Every page of a list, following nextCursor. */
    async function allPages(query: string): Promise<string[]> {
      const ids: string[] = [];
      let cursor: string | null = null;
      do {
        const url: string = `/api/markets?${query}&limit=25&fields=id${cursor ? `&cursor=${cursor}` : ''}`;
        const res = await t.request({ method: 'GET', url });
        assert.equal(res.statusCode, 200, res.body);
        const body = res.json();
        ids.push(...body.data.map((m: { id: string }) => m.id));
        cursor = body.meta.nextCursor;
      } while (cursor);
      return ids;
    }

    for (const [sort, order] of [
      ['closesAt', 'desc'],
      ['name', 'asc'],
      ['volume', 'desc'],
    ] as const) {
      test(`status=closed returns closed markets and active ones past their close time, by ${sort} ${order}, across pages`, async () => {
        const column = sql.ref(sort === 'closesAt' ? 'closes_at' : sort);
        const direction = sql.raw(order);
        const expected = await sql<{ id: string }>`
          select id from markets
          where status = 'closed' or (status = 'active' and closes_at <= now())
          order by ${column} ${direction}, id ${direction}`.execute(t.database.db);
        const kinds = await sql<{ status: string; n: number }>`
          select status, count(*)::int as n from markets
          where status = 'closed' or (status = 'active' and closes_at <= now()) group by status`.execute(
          t.database.db,
        );
        assert.deepEqual(
          new Set(kinds.rows.map((r) => r.status)),
          new Set(['active', 'closed']),
          'sample has both kinds',
        );

        const ids = await allPages(`status=closed&sort=${sort}&order=${order}`);
        assert.deepEqual(
          ids,
          expected.rows.map((r) => r.id),
        );
      });
    }

    test('status=closed with a category keeps both conditions', async () => {
      const closed = sql`(status = 'closed' or (status = 'active' and closes_at <= now()))`;
      const busiest = await sql<{ category: string }>`
        select category from markets where ${closed} group by category order by count(*) desc limit 1`.execute(
        t.database.db,
      );
      const category = busiest.rows[0]!.category;
      const expected = await sql<{ id: string }>`
        select id from markets where category = ${category} and ${closed}
        order by created_at desc, id desc`.execute(t.database.db);
      const ids = await allPages(`status=closed&category=${category}&sort=createdAt`);
      assert.ok(ids.length > 0);
      assert.deepEqual(
        ids,
        expected.rows.map((r) => r.id),
      );
    });
  });
}
