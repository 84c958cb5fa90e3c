import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { databaseKinds } from './helpers/databases.ts';
import { createMarket, type TestUser, trade } from './helpers/trading.ts';

const DAY = 86_400_000;
const inDays = (days: number) => new Date(Date.now() + days * DAY).toISOString();

/** Issue 12, "business rules bent": edits, close times and resolution go by the effective state. */
for (const kind of databaseKinds()) {
  describe(`market rules (${kind})`, () => {
    let t: TestApp;
    let creator: TestUser;
    let trader: TestUser;
    let moderator: TestUser;

    before(async () => {
      t = await buildTestApp(kind);
      creator = await t.user();
      trader = await t.user();
      moderator = await t.user('moderator');
    });
    after(() => t.close());

    const patch = (user: TestUser, id: string, payload: Record<string, unknown>) =>
      t.request({ method: 'PATCH', url: `/api/markets/${id}`, headers: user.auth, payload });
    const resolve = (user: TestUser, id: string) =>
      t.request({
        method: 'POST',
        url: `/api/markets/${id}/resolve`,
        headers: user.auth,
        payload: { outcome: 'YES' },
      });
    const read = async (id: string) =>
      (await t.request({ method: 'GET', url: `/api/markets/${id}` })).json().data;
    /** Its close time passes (as time would do it). */
    const closeByTime = (id: string) =>
      t.database.db
        .updateTable('markets')
        .set({ closesAt: new Date(Date.now() - 1000) })
        .where('id', '=', id)
        .execute();

    test('a market closed by its close time cannot be edited or reopened by its creator', async () => {
      const m = await createMarket(t, creator);
      await closeByTime(m.id);
      const reopen = await patch(creator, m.id, {
        closesAt: inDays(30),
        name: 'Will a different thing happen?',
      });
      assert.equal(reopen.statusCode, 403, reopen.body);
      assert.equal(reopen.json().success, false);
      const after = await read(m.id);
      assert.equal(after.status, 'closed');
      assert.equal(after.name, m.name);
      const res = await trade(t, trader, m.id, { outcome: 'YES', side: 'buy', amount: 5 });
      assert.equal(res.statusCode, 409, 'still takes no trades');
    });

    test('a moderator reopens a closed market by setting a later close time', async () => {
      const m = await createMarket(t, creator);
      await trade(t, trader, m.id, { outcome: 'YES', side: 'buy', amount: 5 });
      await closeByTime(m.id);
      const res = await patch(moderator, m.id, { closesAt: inDays(10) });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().data.status, 'active');
      const traded = await trade(t, trader, m.id, { outcome: 'NO', side: 'buy', amount: 5 });
      assert.equal(traded.statusCode, 201, traded.body);
    });

    test('once traded, the question stays and the close time only moves later', async () => {
      const closesAt = inDays(20);
      const m = await createMarket(t, creator, { closesAt });
      assert.equal(
        (await trade(t, trader, m.id, { outcome: 'YES', side: 'buy', amount: 5 })).statusCode,
        201,
      );
      for (const [user, change] of [
        [creator, { name: 'Will something else entirely happen?' }],
        [creator, { description: 'Resolves YES on a coin toss.' }],
        [creator, { closesAt: inDays(1) }],
        [moderator, { name: 'Will a moderator rewrite the question?' }],
        [moderator, { closesAt: inDays(2) }],
      ] as const) {
        const res = await patch(user, m.id, change);
        assert.equal(res.statusCode, 409, `${JSON.stringify(change)}: ${res.body}`);
        assert.equal(res.json().code, 'MARKET_HAS_TRADES');
      }
      const unchanged = await read(m.id);
      assert.equal(unchanged.name, m.name);
      assert.equal(unchanged.description, m.description);
      assert.equal(unchanged.closesAt, closesAt);

      const later = await patch(creator, m.id, { closesAt: inDays(40), tags: ['moved'], name: m.name });
      assert.equal(later.statusCode, 200, later.body);
      assert.deepEqual(later.json().data.tags, ['moved']);
    });

    test('a market without trades can still be renamed and closed earlier by its creator', async () => {
      const m = await createMarket(t, creator, { closesAt: inDays(20) });
      const res = await patch(creator, m.id, { name: 'Will the new wording hold?', closesAt: inDays(2) });
      assert.equal(res.statusCode, 200, res.body);
    });

    test('who may resolve when: moderators any time, the creator only once closed, nobody else', async () => {
      const m = await createMarket(t, creator, { closesAt: inDays(20) });
      await trade(t, trader, m.id, { outcome: 'NO', side: 'buy', amount: 5 });
      // The creator cannot bring the close forward to resolve at will.
      assert.equal((await patch(creator, m.id, { closesAt: inDays(1) })).statusCode, 409);
      assert.equal((await resolve(creator, m.id)).statusCode, 403, 'creator before close');
      assert.equal((await resolve(trader, m.id)).statusCode, 403, 'a trader');
      await closeByTime(m.id);
      assert.equal((await resolve(trader, m.id)).statusCode, 403, 'a trader, after close');
      const byCreator = await resolve(creator, m.id);
      assert.equal(byCreator.statusCode, 200, byCreator.body);

      const open = await createMarket(t, creator, { closesAt: inDays(20) });
      const byModerator = await resolve(moderator, open.id);
      assert.equal(byModerator.statusCode, 200, 'a moderator before close');
    });
  });
}
