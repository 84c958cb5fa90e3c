import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { SAMPLE_CATEGORIES, sampleMarkets } from '../scripts/lib/sample-markets.ts';
import { type Database, openDatabase, openPglite } from '../src/db/database.ts';
import { createTestDatabase, databaseKinds } from './helpers/databases.ts';

const run = promisify(execFile);
const SEED_CLI = new URL('../scripts/seed.ts', import.meta.url).pathname;

/** Runs `npm run seed -- …args` as an operator would, with only the given database settings. */
function seedCli(args: string[], env: { DATABASE_URL?: string; DATA_DIR?: string }) {
  const { DATABASE_URL: _url, DATA_DIR: _dir, ...rest } = process.env;
  return run(process.execPath, [SEED_CLI, ...args], { env: { ...rest, ...env }, timeout: 60_000 });
}

describe('sample market generator', () => {
  const now = new Date('2026-06-01T00:00:00Z');

  test('the same seed yields the same markets; another seed yields others', () => {
    const a = [...sampleMarkets(200, 40, { seed: 7, now })];
    const b = [...sampleMarkets(200, 40, { seed: 7, now })];
    const c = [...sampleMarkets(200, 40, { seed: 8, now })];
    assert.deepEqual(a, b);
    assert.notDeepEqual(
      a.map((m) => m.name),
      c.map((m) => m.name),
    );
    assert.equal(new Set([...a, ...c].map((m) => m.slug)).size, 400, 'slugs are unique across seeds');
  });

  test('markets look like a live site: many categories and tags, open and past markets, long-tail volume', () => {
    const markets = [...sampleMarkets(5000, 40, { seed: 1, now })];
    assert.deepEqual(new Set(markets.map((m) => m.category)), new Set(SAMPLE_CATEGORIES));
    assert.ok(SAMPLE_CATEGORIES.length >= 8);
    assert.ok(new Set(markets.flatMap((m) => m.tags)).size >= 50);
    const open = markets.filter((m) => m.closesAt > now).length / markets.length;
    assert.ok(open > 0.6 && open < 0.9, `open share ${open}`);
    for (const m of markets) {
      assert.ok(m.createdAt <= now && m.createdAt <= m.closesAt, m.slug);
      assert.ok(m.probability > 0 && m.probability < 1, m.slug);
      assert.equal(m.status === 'resolved', m.outcome !== null, m.slug);
      assert.ok(m.name.length >= 3 && m.name.length <= 200 && m.slug.length <= 120, m.slug);
    }
    const volumes = markets.map((m) => m.volume).sort((x, y) => x - y);
    const median = volumes[volumes.length >> 1]!;
    const top = volumes[Math.floor(volumes.length * 0.999)]!;
    assert.ok(top > 50 * median, `long tail: p99.9 ${top} vs median ${median}`);
  });
});

for (const kind of databaseKinds()) {
  describe(`npm run seed (${kind})`, () => {
    test('fills the database with varied markets by a few dozen users; the same seed again adds nothing', async () => {
      let env: { DATABASE_URL?: string; DATA_DIR?: string };
      let open: () => Promise<Database>;
      let cleanup: () => Promise<void>;
      if (kind === 'pglite') {
        const dir = await mkdtemp(join(tmpdir(), 'markets-seed-'));
        env = { DATA_DIR: dir };
        open = async () => openDatabase({ pglite: await openPglite(dir) });
        cleanup = () => rm(dir, { recursive: true, force: true });
      } else {
        const target = await createTestDatabase('postgres');
        await target.database.close();
        env = { DATABASE_URL: target.url! };
        open = () => openDatabase({ url: target.url });
        cleanup = target.cleanup;
      }
      try {
        const first = await seedCli(['--markets', '400', '--seed', '7'], env);
        assert.match(first.stdout, /seeded 400 markets \(0 already present\) by 40 users/);
        const again = await seedCli(['--markets', '400', '--seed', '7'], env);
        assert.match(again.stdout, /seeded 0 markets \(400 already present\)/);

        const database = await open();
        try {
          const stats = await sql<{
            markets: number;
            categories: number;
            tags: number;
            creators: number;
            past: number;
            users: number;
          }>`select count(*)::int as markets,
                    count(distinct category)::int as categories,
                    (select count(distinct t)::int from markets, unnest(tags) t) as tags,
                    count(distinct creator_id)::int as creators,
                    count(*) filter (where closes_at < now())::int as past,
                    (select count(*)::int from users) as users
             from markets`.execute(database.db);
          const s = stats.rows[0]!;
          // The 400 sample markets and the multiple-choice Tour de France market beside them.
          assert.equal(s.markets, 401);
          assert.equal(s.users, 40);
          const tour = await sql<{ type: string; answers: number }>`select m.type,
                 (select count(*)::int from market_answers a where a.market_id = m.id) as answers
            from markets m where m.name = 'Who wins the 2027 Tour de France?'`.execute(database.db);
          assert.deepEqual(tour.rows, [{ type: 'multiple', answers: 8 }]);
          assert.ok(s.categories >= 8, `${s.categories} categories`);
          assert.ok(s.tags >= 40, `${s.tags} tags`);
          assert.ok(s.creators >= 10, `${s.creators} creators`);
          assert.ok(s.past > 40 && s.past < 200, `${s.past} markets closed in the past`);
        } finally {
          await database.close();
        }
      } finally {
        await cleanup();
      }
    });
  });
}

test('npm run seed refuses a bad argument with its usage and exit code 2', async () => {
  await assert.rejects(
    seedCli(['--markets', 'many'], { DATA_DIR: join(tmpdir(), 'never-created') }),
    (error: { code: number; stderr: string }) => {
      assert.equal(error.code, 2);
      assert.match(error.stderr, /usage: npm run seed/);
      assert.match(error.stderr, /--markets: must be a whole number/);
      return true;
    },
  );
});
