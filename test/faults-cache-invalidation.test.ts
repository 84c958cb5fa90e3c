import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
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

for (const kind of databaseKinds()) {
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
        const prefix = `faults-${writerStops ? 'stopped' : 'alive'}-${kind}:`;
        const writerLink = await redisProxy(redis.url);
        const cluster: Cluster = await startInstances(kind, 2, (index) => ({
          REDIS_URL: index === 1 ? writerLink.url : redis.url,
          REDIS_KEY_PREFIX: prefix,
          RATE_LIMIT_PER_MINUTE: '0',
          TRADE_RATE_LIMIT_PER_MINUTE: '0',
          CACHE_TTL_SECONDS: '300',
          LIST_CACHE_TTL_SECONDS: '300',
        }));
        try {
          // The reader is the first instance (which owns a shared PGlite); the writer can stop alone.
          const [reader, writer] = cluster.instances as [Instance, Instance];
          const alice = await cluster.user();
          const created = await writer.fetch('/api/markets', json(marketBody(), alice.auth));
          assert.equal(created.status, 201);
          const { id, slug } = (await body(created)).data;
          const listPath = '/api/markets?limit=100&sort=createdAt';

          // Warm the shared cache through the reader: the row, the slug and the first list page.
          const read = async () => {
            const [byId, bySlug, list] = await Promise.all([
              reader.fetch(`/api/markets/${id}`).then(body),
              reader.fetch(`/api/markets/${slug}`).then(body),
              reader.fetch(listPath).then(body),
            ]);
            const listed = list.data.find((m: { id: string }) => m.id === id);
            return [byId.data, bySlug.data, listed] as { name: string; volume: number }[];
          };
          await read();
          await eventually(() => fromRedis(reader, read), 10_000, 'the reader answering from Redis');

          // Redis goes away with its data saved: it comes back with the old entries in it.
          const direct = new Redis(redis.url);
          await direct.save();
          direct.disconnect();
          await redis.stop();
          writerLink.block();

          const renamed = 'Renamed while Redis was away';
          const patched = await writer.fetch(`/api/markets/${id}`, {
            ...json({ name: renamed }, alice.auth),
            method: 'PATCH',
          });
          assert.equal(patched.status, 200);
          const traded = await writer.fetch(
            `/api/markets/${id}/trades`,
            json({ outcome: 'YES', side: 'buy', amount: 25 }, alice.auth),
          );
          assert.equal(traded.status, 201);
          const volume = (await body(traded)).data.market.volume;
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
              if (market?.name !== renamed || market.volume !== volume) stale++;
            }
            await sleep(20);
          }
          writerLink.unblock();
          t.diagnostic(`${stale} stale of ${reads} reads in the ${READ_WINDOW_MS} ms after Redis came back`);
          assert.equal(stale, 0, `${stale} of ${reads} reads were stale`);
          // Caught up means fresh and from Redis again, not merely answering from the database.
          await eventually(() => fromRedis(reader, read), 10_000, 'the reader answering from Redis again');
          const fresh = (await read()).every((m) => m?.name === renamed && m.volume === volume);
          assert.ok(fresh, 'what Redis serves once caught up is the new row');
          const caughtUp = reader.logs.find(
            (l) => String(l.msg).startsWith('cache caught up') && Number(l.time) >= back,
          );
          t.diagnostic(`the reader caught up ${Number(caughtUp?.time) - back} ms after Redis came back`);
        } finally {
          await cluster.close();
          await writerLink.close();
        }
      });
    }
  });
}
