import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DatabaseKind } from '../src/db/database.ts';
import { databaseKinds } from './helpers/databases.ts';
import { eventually } from './helpers/eventually.ts';
import { marketBody } from './helpers/factories.ts';
import { body, type Cluster, type Instance, json, startInstances } from './helpers/instances.ts';
import { type OwnRedis, ownRedisServer, skipWithoutRedisServer } from './helpers/redis.ts';

/**
 * Issue 11 item 5: what a write invalidates must reach every instance even when the writer is gone
 * by the time Redis comes back with its old data. Two instances on one database and one private
 * redis-server; the writer edits and trades during the outage, then either stops, or stays up but
 * reaches Redis (through a proxy) only a while after the reader does: the window in which, before
 * the event log, the reader served the old row until the writer replayed what it owed.
 */
const READ_WINDOW_MS = 2_000;

/** A TCP proxy to Redis that can refuse every connection (the writer's link being down). */
async function redisProxy(target: string) {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  let blocked = false;
  const server = createServer((client) => {
    if (blocked) return void client.destroy();
    const upstream = connect(Number(port), hostname);
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      sockets.add(a);
      a.pipe(b);
      a.on('error', () => b.destroy());
      a.on('close', () => {
        sockets.delete(a);
        b.destroy();
      });
    }
  }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `redis://127.0.0.1:${(server.address() as { port: number }).port}`,
    block() {
      blocked = true;
      for (const socket of sockets) socket.destroy();
    },
    unblock() {
      blocked = false;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** True when a round of reads made no database query (the follower's poll can land in one: retried). */
async function fromRedis(instance: Instance, read: () => Promise<unknown>): Promise<boolean> {
  const before = instance.database.stats.queries;
  await read();
  return instance.database.stats.queries === before;
}

interface Setup {
  cluster: Cluster;
  reader: Instance;
  writer: Instance;
  writerLink: Awaited<ReturnType<typeof redisProxy>>;
  marketId: string;
  /** The market by id, by slug and on the first list page, as the reader serves it. */
  read(): Promise<{ name: string; volume: number }[]>;
  /** Renames the market and trades on it through the writer; returns what a fresh read shows. */
  write(): Promise<{ name: string; volume: number }>;
  close(): Promise<void>;
}

/** Two instances, the writer reaching Redis through a proxy; a market cached through the reader. */
async function setUp(kind: DatabaseKind, redisUrl: string, prefix: string): Promise<Setup> {
  const writerLink = await redisProxy(redisUrl);
  const cluster = await startInstances(kind, 2, (index) => ({
    REDIS_URL: index === 1 ? writerLink.url : redisUrl,
    REDIS_KEY_PREFIX: prefix,
    RATE_LIMIT_PER_MINUTE: '0',
    TRADE_RATE_LIMIT_PER_MINUTE: '0',
    CACHE_TTL_SECONDS: '300',
    LIST_CACHE_TTL_SECONDS: '300',
  }));
  // The reader is the first instance (which owns a shared PGlite); the writer can stop alone.
  const [reader, writer] = cluster.instances as [Instance, Instance];
  const alice = await cluster.user();
  const created = await writer.fetch('/api/markets', json(marketBody(), alice.auth));
  assert.equal(created.status, 201);
  const { id, slug } = (await body(created)).data;
  const read = async () => {
    const [byId, bySlug, list] = await Promise.all([
      reader.fetch(`/api/markets/${id}`).then(body),
      reader.fetch(`/api/markets/${slug}`).then(body),
      reader.fetch('/api/markets?limit=100&sort=createdAt').then(body),
    ]);
    const listed = list.data.find((m: { id: string }) => m.id === id);
    return [byId.data, bySlug.data, listed];
  };
  await read();
  await eventually(() => fromRedis(reader, read), 10_000, 'the reader answering from Redis');
  return {
    cluster,
    reader,
    writer,
    writerLink,
    marketId: id,
    read,
    async write() {
      const name = `Renamed at ${Date.now()}`;
      const patched = await writer.fetch(`/api/markets/${id}`, {
        ...json({ name }, alice.auth),
        method: 'PATCH',
      });
      assert.equal(patched.status, 200);
      const traded = await writer.fetch(
        `/api/markets/${id}/trades`,
        json({ outcome: 'YES', side: 'buy', amount: 25 }, alice.auth),
      );
      assert.equal(traded.status, 201);
      return { name, volume: (await body(traded)).data.market.volume };
    },
    async close() {
      await cluster.close();
      await writerLink.close();
    },
  };
}

const isStale = (
  seen: { name: string; volume: number } | undefined,
  fresh: { name: string; volume: number },
) => seen?.name !== fresh.name || seen.volume !== fresh.volume;

// The subject is Redis and the instances; the database kind only changes the log's queries, which
// events.test.ts runs on both. One kind keeps this file's minute of outages from running twice.
for (const kind of databaseKinds().slice(-1)) {
  describe(`cache invalidations survive a Redis outage (${kind})`, { skip: skipWithoutRedisServer }, () => {
    let redis: OwnRedis;
    before(async () => {
      redis = await ownRedisServer();
    });
    after(async () => {
      await redis?.dispose();
    });

    for (const writerStops of [true, false]) {
      test(`the other instance serves no stale read once Redis is back (writer ${writerStops ? 'stopped' : 'alive'})`, async (t) => {
        const setup = await setUp(kind, redis.url, `faults-${writerStops ? 'stopped' : 'alive'}-${kind}:`);
        const { reader, writer, writerLink, read } = setup;
        try {
          // Redis goes away with its data saved: it comes back with the old entries in it.
          await redis.save();
          await redis.stop();
          writerLink.block();

          const fresh = await setup.write();
          if (writerStops) {
            const closing = writer.app.close();
            writer.app.server.closeAllConnections();
            await closing;
          }

          await redis.start(); // the writer, if still up, cannot reach it yet
          const back = Date.now();
          let reads = 0;
          let stale = 0;
          while (Date.now() - back < READ_WINDOW_MS) {
            for (const market of await read()) {
              reads++;
              if (isStale(market, fresh)) stale++;
            }
            await sleep(20);
          }
          writerLink.unblock();
          t.diagnostic(`${stale} stale of ${reads} reads in the ${READ_WINDOW_MS} ms after Redis came back`);
          assert.equal(stale, 0, `${stale} of ${reads} reads were stale`);
          // Caught up means fresh and from Redis again, not merely answering from the database.
          await eventually(() => fromRedis(reader, read), 10_000, 'the reader answering from Redis again');
          assert.ok(
            (await read()).every((m) => !isStale(m, fresh)),
            'what Redis serves once caught up is the new row',
          );
          const caughtUp = reader.logs.find(
            (l) => String(l.msg).startsWith('cache caught up') && Number(l.time) >= back,
          );
          t.diagnostic(`the reader caught up ${Number(caughtUp?.time) - back} ms after Redis came back`);
        } finally {
          await setup.close();
        }
      });
    }

    test('with Redis up, a write whose delete failed reaches the other instance within the follow interval', async (t) => {
      const setup = await setUp(kind, redis.url, `faults-cut-off-${kind}:`);
      const { writer, writerLink, read } = setup;
      try {
        writerLink.block(); // only the writer loses Redis: its deletes after commit fail
        const fresh = await setup.write();
        const written = Date.now();
        const own = await writer.fetch(`/api/markets/${setup.marketId}`).then(body);
        assert.ok(!isStale(own.data, fresh), 'the writer itself reads past the cache it could not clean');
        let stale = 0;
        await eventually(
          async () => {
            const seen = await read();
            stale += seen.filter((m) => isStale(m, fresh)).length;
            return seen.every((m) => !isStale(m, fresh));
          },
          10_000,
          'the reader serving the new row while the writer is still cut off',
        );
        const freshAfter = Date.now() - written;
        t.diagnostic(
          `fresh on the other instance ${freshAfter} ms after the write (${stale} stale reads before)`,
        );
        // The default follow interval is 1 s; a loaded machine gets generous slack.
        assert.ok(freshAfter < 5_000, `fresh only after ${freshAfter} ms`);
      } finally {
        await setup.close();
      }
    });
  });
}
