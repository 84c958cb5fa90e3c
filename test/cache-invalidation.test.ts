import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyBaseLogger } from 'fastify';
import type { Redis } from 'ioredis';
import pino from 'pino';
import type { Database } from '../src/db/database.ts';
import { type Cache, createCacheAside } from '../src/lib/cache/cache.ts';
import { createMemoryCache } from '../src/lib/cache/memory-cache.ts';
import { createRedisCache } from '../src/lib/cache/redis-cache.ts';
import { closeRedis, createRedisClient, waitUntilReady } from '../src/lib/redis.ts';
import {
  type CachedMarketRepository,
  createCachedMarketRepository,
} from '../src/modules/markets/cached-markets.repository.ts';
import { createMarketRepository, type MarketPage } from '../src/modules/markets/markets.repository.ts';
import { createTestDatabase, databaseKinds } from './helpers/databases.ts';
import { deleteKeys, skipWithoutRedis, TEST_REDIS_URL, uniqueKeyPrefix } from './helpers/redis.ts';

const log = pino({ level: 'silent' }) as FastifyBaseLogger;
const TTL = { rowSeconds: 300, listSeconds: 60 };
const firstPage: MarketPage = {
  filters: {},
  sort: 'createdAt',
  order: 'desc',
  limit: 20,
  offset: 0,
  columns: ['id', 'volume', 'probability'],
};

const backends = [
  { name: 'memory', skip: false as const },
  { name: 'redis', skip: skipWithoutRedis },
];

for (const kind of databaseKinds()) {
  for (const backend of backends) {
    describe(`cache invalidation of market rows (${kind}, ${backend.name})`, { skip: backend.skip }, () => {
      let database: Database;
      let cleanup: () => Promise<void>;
      let redis: Redis | undefined;
      let cache: Cache;
      const prefix = uniqueKeyPrefix();
      let creatorId: string;

      before(async () => {
        ({ database, cleanup } = await createTestDatabase(kind));
        if (backend.name === 'redis') {
          redis = createRedisClient(TEST_REDIS_URL!, log);
          assert.ok(await waitUntilReady(redis, 2000));
          cache = createRedisCache(redis, prefix);
        } else {
          cache = createMemoryCache();
        }
        creatorId = (
          await database.db
            .insertInto('users')
            .values({ email: `creator-${prefix}@example.com`, name: 'Creator' })
            .returning('id')
            .executeTakeFirstOrThrow()
        ).id;
      });
      after(async () => {
        if (redis) {
          await closeRedis(redis);
          await deleteKeys(TEST_REDIS_URL!, prefix);
        }
        await cleanup();
      });

      const newRepository = (base = createMarketRepository(database.db)): CachedMarketRepository =>
        createCachedMarketRepository(base, createCacheAside(cache, { log }), TTL);
      const newMarket = (markets: CachedMarketRepository) =>
        markets.create(
          {
            slug: `m-${Date.now()}-${Math.random().toString(36).slice(2)}`,
            name: 'Will the cache stay fresh?',
            category: 'tech',
            closesAt: new Date(Date.now() + 86_400_000),
            creatorId,
          },
          ['YES', 'NO'],
        );

      test('a trade committed in its own transaction is served once invalidate(id) runs after the commit', async () => {
        const markets = newRepository();
        const market = await newMarket(markets);
        await markets.findById(market.id);
        await markets.list(firstPage);

        // What the trading module does: change the row inside its transaction, then invalidate.
        await database.db.transaction().execute(async (trx) => {
          await markets.update(market.id, { volume: 12_345, probability: 0.7 }, undefined, trx);
        });
        assert.equal((await markets.findById(market.id))?.volume, 0, 'cached until invalidated');

        await markets.invalidate(market.id);
        const row = await markets.findById(market.id);
        assert.equal(row?.volume, 12_345);
        assert.equal(row?.probability, 0.7);
        assert.ok(row?.updatedAt instanceof Date, 'dates come back as dates');
        const listed = (await markets.list(firstPage)).rows.find((r) => r.id === market.id);
        assert.equal(listed?.volume, 12_345);
      });

      test('a read that raced a write cannot put the old row back in the cache', async () => {
        const plain = createMarketRepository(database.db);
        let releaseRead!: () => void;
        let readDone!: () => void;
        const gate = new Promise<void>((resolve) => {
          releaseRead = resolve;
        });
        const readHasRow = new Promise<void>((resolve) => {
          readDone = resolve;
        });
        let slow = true;
        const markets = newRepository({
          ...plain,
          async findById(id, trx) {
            const row = await plain.findById(id, trx);
            if (slow) {
              slow = false;
              readDone();
              await gate; // the row in hand is now older than the write below
            }
            return row;
          },
        });
        const market = await newMarket(markets);

        const racingRead = markets.findById(market.id);
        await readHasRow;
        await markets.update(market.id, { volume: 500 });
        releaseRead();
        assert.equal((await racingRead)?.volume, 0, 'the racing read itself overlapped the write');

        assert.equal((await markets.findById(market.id))?.volume, 500);
      });

      test('a request that joined an in-flight load started before a write reloads', async () => {
        const plain = createMarketRepository(database.db);
        let releaseRead!: () => void;
        let readDone!: () => void;
        const gate = new Promise<void>((resolve) => {
          releaseRead = resolve;
        });
        const readHasRow = new Promise<void>((resolve) => {
          readDone = resolve;
        });
        let slow = true;
        const markets = newRepository({
          ...plain,
          async findById(id, trx) {
            const row = await plain.findById(id, trx);
            if (slow) {
              slow = false;
              readDone();
              await gate;
            }
            return row;
          },
        });
        const market = await newMarket(markets);

        const leader = markets.findById(market.id);
        await readHasRow;
        await markets.update(market.id, { volume: 900 });
        const follower = markets.findById(market.id); // arrives after the write finished
        releaseRead();
        await leader;
        assert.equal((await follower)?.volume, 900);
      });
    });
  }
}
