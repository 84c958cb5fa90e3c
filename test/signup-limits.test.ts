import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FAST_PASSWORD_HASHING, registration } from './helpers/accounts.ts';
import { databaseKinds } from './helpers/databases.ts';
import { body, type Cluster, json, startInstances } from './helpers/instances.ts';

/**
 * Issue 12: one address created 100 accounts before its first 429, and 15 fresh accounts pooled
 * their grants into one. Sign-ups are bounded per address and day in the database, so the bound
 * holds across instances (and restarts); only the first few of them receive the grant.
 */
for (const kind of databaseKinds()) {
  describe(`sign-up limits per address (${kind})`, () => {
    let cluster: Cluster;

    before(async () => {
      cluster = await startInstances(kind, 2, {
        ...FAST_PASSWORD_HASHING,
        REGISTRATIONS_PER_IP_PER_DAY: '10',
        SIGNUP_GRANTS_PER_IP_PER_DAY: '3',
        SIGNUP_GRANT: '1000',
      });
    });
    after(() => cluster.close());

    test('one address registers at most 10 accounts a day, across instances, and only 3 get the grant', async () => {
      const [a, b] = cluster.instances;
      // 15 sign-ups at once, split over two instances (two processes on one database).
      const answers = await Promise.all(
        Array.from({ length: 15 }, (_, i) =>
          (i % 2 ? a! : b!).fetch('/api/auth/register', json(registration())),
        ),
      );
      const created = answers.filter((r) => r.status === 201);
      const refused = answers.filter((r) => r.status === 429);
      assert.equal(created.length, 10, answers.map((r) => r.status).join());
      assert.equal(refused.length, 5);
      for (const res of refused) {
        const retryAfter = Number(res.headers.get('retry-after'));
        assert.ok(retryAfter > 23 * 3600 && retryAfter <= 24 * 3600, `Retry-After ${retryAfter}`);
        const envelope = await body(res);
        assert.equal(envelope.success, false);
        assert.equal(envelope.code, 'RATE_LIMITED');
        assert.ok(envelope.requestId);
      }
      const balances = (await Promise.all(created.map(body))).map((e) => e.data.balance as number);
      assert.deepEqual(
        balances.sort((x, y) => y - x),
        [1000, 1000, 1000, 0, 0, 0, 0, 0, 0, 0],
        'what 15 farmed accounts can pool is bounded by 3 grants',
      );
    });
  });
}
