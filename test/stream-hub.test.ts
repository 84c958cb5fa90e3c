import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { Database } from '../src/db/database.ts';
import { createLogger } from '../src/lib/logger.ts';
import { createEventFeedRepository } from '../src/modules/events/event-feed.repository.ts';
import { createEventRepository } from '../src/modules/events/events.repository.ts';
import { createStreamHub, type HubSubscriber } from '../src/modules/streams/stream-hub.ts';
import { createTestDatabase, databaseKinds } from './helpers/databases.ts';
import { eventually } from './helpers/eventually.ts';

const quiet = createLogger('warn', { destination: new Writable({ write: (_c, _e, done) => done() }) });

/**
 * Every commit of any instance wakes the hub of every instance. An instance with no open stream
 * must not read and frame each of those events; it follows the log's head, so that its first
 * subscriber still gets everything after it exactly once.
 */
for (const kind of databaseKinds()) {
  describe(`the stream hub of one instance (${kind})`, () => {
    let database: Database;
    let cleanup: () => Promise<void>;

    before(async () => {
      ({ database, cleanup } = await createTestDatabase(kind));
    });
    after(() => cleanup?.());

    const events = () => createEventRepository(database.db);
    const append = (n: number) =>
      database.db.transaction().execute(async (trx) => {
        for (let i = 0; i < n; i++)
          await events().append(trx, { type: 'market.updated', marketId: null, payload: { i } });
      });
    /** The real feed, counting the reads of events (not of the head). */
    const countingFeed = () => {
      const feed = createEventFeedRepository(database.db);
      const counts = { eventReads: 0 };
      return {
        counts,
        feed: {
          ...feed,
          after: (seq: number, limit: number) => {
            counts.eventReads++;
            return feed.after(seq, limit);
          },
        },
      };
    };
    const collector = () => {
      const seqs: number[] = [];
      const subscriber: HubSubscriber = {
        markets: null,
        receive: (events) => seqs.push(...events.map((event) => event.seq)),
        ping: () => {},
      };
      return { seqs, subscriber };
    };
    /** Runs a pump now and waits for it (the hub's wake only triggers one). */
    const settle = async (hub: ReturnType<typeof createStreamHub>, expectedHead: number) => {
      hub.wake();
      await eventually(() => hub.head >= expectedHead, 2000, `the hub's head at ${expectedHead}`);
    };

    test('with no subscriber it reads no event, only the head; its first subscriber then gets exactly what follows', async () => {
      const { feed, counts } = countingFeed();
      const hub = createStreamHub({ feed, pollIntervalMs: 60_000, heartbeatMs: 60_000, log: quiet });
      await hub.start();
      try {
        await append(5);
        const head = await events().lastSeq();
        await settle(hub, head);
        assert.equal(hub.head, head, 'the head follows the log');
        assert.equal(counts.eventReads, 0, 'no event was read for nobody');

        const { seqs, subscriber } = collector();
        hub.add(subscriber);
        await append(2);
        const newHead = await events().lastSeq();
        await settle(hub, newHead);
        assert.deepEqual(seqs, [head + 1, head + 2], 'the events after the head, once each');
        assert.ok(counts.eventReads >= 1);
      } finally {
        await hub.stop();
      }
    });

    test('events that commit together reach each stream as one write, only its own markets, in seq order', async () => {
      const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
      const hub = createStreamHub({
        feed: createEventFeedRepository(database.db),
        pollIntervalMs: 60_000,
        heartbeatMs: 60_000,
        log: quiet,
      });
      await hub.start();
      const start = hub.head;
      /** What each subscriber was handed, write by write (the frame's ids, as the client parses them). */
      const writesOf = (markets: string[] | null) => {
        const writes: number[][] = [];
        const subscriber: HubSubscriber = {
          markets: markets && new Set(markets),
          receive: (events, frame) => {
            const ids = [...frame.toString().matchAll(/^id: (\d+)$/gm)].map((match) => Number(match[1]));
            assert.deepEqual(
              ids,
              events.map((event) => event.seq),
              'the frame holds exactly the events handed',
            );
            writes.push(ids);
          },
          ping: () => {},
        };
        hub.add(subscriber);
        return writes;
      };
      const all = writesOf(null);
      const ofA = writesOf([a]);
      const alsoOfA = writesOf([a]);
      const ofAandC = writesOf([a, c]);
      try {
        await database.db.transaction().execute(async (trx) => {
          for (const marketId of [a, b, c, a, null, c, a])
            await events().append(trx, { type: 'market.updated', marketId, payload: {} });
        });
        const head = await events().lastSeq();
        await settle(hub, head);
        const seq = (i: number) => start + 1 + i;
        assert.deepEqual(all, [[0, 1, 2, 3, 4, 5, 6].map(seq)]);
        assert.deepEqual(ofA, [[0, 3, 6].map(seq)]);
        assert.deepEqual(alsoOfA, ofA);
        assert.deepEqual(ofAandC, [[0, 2, 3, 5, 6].map(seq)], "two markets' events merged in seq order");
      } finally {
        await hub.stop();
      }
    });

    test('a subscriber that joins while the head is being probed keeps every event after the old head', async () => {
      const real = createEventFeedRepository(database.db);
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let probing = false;
      let probes = 0;
      const feed = {
        ...real,
        async bounds() {
          probes++;
          // The first probe is start()'s; the second is the wake's, held open while a subscriber joins.
          if (probes === 2) {
            probing = true;
            await gate;
          }
          return real.bounds();
        },
      };
      const hub = createStreamHub({ feed, pollIntervalMs: 60_000, heartbeatMs: 60_000, log: quiet });
      await hub.start();
      const before = hub.head;
      try {
        await append(3);
        hub.wake();
        for (let i = 0; i < 100 && !probing; i++) await new Promise((r) => setTimeout(r, 10));
        assert.ok(probing, 'the wake is probing the head');
        const { seqs, subscriber } = collector();
        hub.add(subscriber);
        release();
        const head = await events().lastSeq();
        await settle(hub, head);
        assert.deepEqual(
          seqs,
          [before + 1, before + 2, before + 3],
          'the next read hands the subscriber the events the probe would have skipped',
        );
      } finally {
        release();
        await hub.stop();
      }
    });
  });
}
