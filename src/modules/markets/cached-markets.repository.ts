import { createHash, randomUUID } from 'node:crypto';
import type { MarketRow } from '../../db/schema.ts';
import { type CacheAside, jsonCodec, type ReadSpec } from '../../lib/cache/cache.ts';
import type { MarketFilters, MarketPage, MarketRepository } from './markets.repository.ts';

export interface CachedMarketRepository extends MarketRepository {
  /**
   * Forgets everything cached about a market: its row and every list page. Writes through this
   * repository call it themselves; code that changes a market inside its own transaction (trades,
   * resolve, cancel) must call it after the commit, never before (a read in between would cache
   * the old row again).
   */
  invalidate(marketId: string): Promise<void>;
  /**
   * The keys that hold anything of these markets: rows by id and slug (when known) and the list
   * generation. The event-log follower deletes them for changes it may have missed.
   */
  cacheKeysOf(changed: readonly { marketId: string | null; slug: string | null }[]): string[];
}

export interface MarketCacheTtl {
  /** Rows by id and the slug → id mapping; 0 = not cached. */
  rowSeconds: number;
  /** First list pages and counts; 0 = not cached. */
  listSeconds: number;
}

/** List pages deeper than this are rare and many: they go to the database. */
const MAX_CACHED_OFFSET = 100;

const DATE_FIELDS = new Set([
  'closesAt',
  'resolvedAt',
  'createdAt',
  'updatedAt',
  'closeAnnouncedAt',
  'closeDueAt',
]);
const rowCodec = jsonCodec<MarketRow>(DATE_FIELDS);
const pageCodec = jsonCodec<{ rows: Partial<MarketRow>[]; hasMore: boolean }>(DATE_FIELDS);
const textCodec = { encode: (v: string) => v, decode: (v: string) => v };
const countCodec = { encode: String, decode: Number };

const keys = {
  byId: (id: string) => `market:id:${id}`,
  bySlug: (slug: string) => `market:slug:${slug}`,
  /**
   * A random token embedded in every list key. Invalidating deletes it; the next reader draws a new
   * one, so all old pages become unreachable in O(1) and simply expire.
   */
  listGeneration: 'market:lists:generation',
  page: (generation: string, page: MarketPage) => `market:list:${generation}:${digest(normalisePage(page))}`,
  count: (generation: string, filters: MarketFilters) =>
    `market:count:${generation}:${digest(normaliseFilters(filters))}`,
};

/**
 * The seed's CachedMarketRepository as a decorator: same interface as the PostgreSQL repository,
 * cache-aside reads (rows by id/slug, hot list pages), and every write through it invalidates what
 * it changed. Reads and writes given a transaction bypass the cache.
 */
export function createCachedMarketRepository(
  base: MarketRepository,
  cache: CacheAside,
  ttl: MarketCacheTtl,
  /**
   * Where list pages and counts the cache does not hold are read (a replica). What fills the
   * cache is read from `base` (the primary): an entry filled from a replica that had not replayed
   * a write yet would outlive that write's invalidation and serve the old data for its whole TTL.
   */
  uncached: Pick<MarketRepository, 'list' | 'count'> = base,
): CachedMarketRepository {
  let drawing: Promise<string> | undefined;
  async function listGeneration(): Promise<string> {
    const current = await cache.readRaw(keys.listGeneration);
    if (current !== undefined) return current;
    // Concurrent readers here (a page and its count) draw one token, so they share entries.
    drawing ??= (async () => {
      const fresh = randomUUID();
      await cache.writeRaw(keys.listGeneration, fresh);
      return fresh;
    })().finally(() => {
      drawing = undefined;
    });
    return drawing;
  }

  /**
   * A list page or count under the current list generation; straight from the database when the
   * generation cannot be read (the cache is down).
   */
  async function readListEntry<T>(
    keyOf: (generation: string) => string,
    codec: Pick<ReadSpec<T>, 'encode' | 'decode'>,
    load: () => Promise<T>,
  ): Promise<T> {
    let generation: string;
    try {
      generation = await listGeneration();
    } catch (error) {
      cache.recordError('get', error);
      return load();
    }
    const value = await cache.read({
      key: keyOf(generation),
      ttlSeconds: ttl.listSeconds,
      load,
      ...codec,
      leased: false,
    });
    return value!;
  }

  async function invalidate(marketId: string): Promise<void> {
    await cache.invalidate([keys.byId(marketId), keys.listGeneration]);
  }

  const findById: MarketRepository['findById'] = (id, trx) => {
    if (trx || ttl.rowSeconds === 0) return base.findById(id, trx);
    return cache.read({
      key: keys.byId(id),
      ttlSeconds: ttl.rowSeconds,
      load: () => base.findById(id),
      ...rowCodec,
      leased: true,
    });
  };

  return {
    ...base,
    invalidate,
    findById,

    cacheKeysOf(changed) {
      const found = new Set([keys.listGeneration]);
      for (const { marketId, slug } of changed) {
        if (marketId) found.add(keys.byId(marketId));
        if (slug) found.add(keys.bySlug(slug));
      }
      return [...found];
    },

    /**
     * Caches slug → id and reads the row through the id entry, so invalidating a market needs
     * only its id. A mapping that outlived a slug change or a delete is caught by comparing slugs.
     */
    async findBySlug(slug, trx) {
      if (trx || ttl.rowSeconds === 0) return base.findBySlug(slug, trx);
      let loaded: MarketRow | undefined;
      const id = await cache.read({
        key: keys.bySlug(slug),
        ttlSeconds: ttl.rowSeconds,
        load: async () => {
          loaded = await base.findBySlug(slug);
          return loaded?.id;
        },
        ...textCodec,
        leased: true,
      });
      if (id === undefined) return undefined;
      if (loaded?.id === id) return loaded;
      const row = await findById(id);
      if (row?.slug === slug) return row;
      await cache.invalidate([keys.bySlug(slug)]);
      return base.findBySlug(slug);
    },

    list(page) {
      if (ttl.listSeconds === 0 || page.after || page.offset >= MAX_CACHED_OFFSET) return uncached.list(page);
      return readListEntry(
        (generation) => keys.page(generation, page),
        pageCodec,
        () => base.list(page),
      );
    },

    count(filters) {
      if (ttl.listSeconds === 0) return uncached.count(filters);
      return readListEntry(
        (generation) => keys.count(generation, filters),
        countCodec,
        () => base.count(filters),
      );
    },

    async create(values, answers, trx) {
      const row = await base.create(values, answers, trx);
      if (!trx) await invalidate(row.id);
      return row;
    },

    async update(id, changes, expectedVersion, trx) {
      const row = await base.update(id, changes, expectedVersion, trx);
      if (!trx) await invalidate(id);
      return row;
    },

    async delete(id, trx) {
      const deleted = await base.delete(id, trx);
      if (!trx) await invalidate(id);
      return deleted;
    },
  };
}

/** Every filter, by position; a filter added to MarketFilters must be added here (else pages collide). */
function normaliseFilters(filters: MarketFilters) {
  return [
    filters.status ?? null,
    filters.category ?? null,
    filters.creatorId ?? null,
    filters.tag ?? null,
    filters.ids ? [...filters.ids].sort() : null,
    filters.volumeMin ?? null,
    filters.volumeMax ?? null,
    filters.closesAfter?.toISOString() ?? null,
    filters.closesBefore?.toISOString() ?? null,
    filters.type ?? null,
  ];
}

/** The same query in any spelling (column order, absent vs undefined filters) → the same key. */
function normalisePage(page: MarketPage) {
  return [
    ...normaliseFilters(page.filters),
    page.sort,
    page.order,
    page.limit,
    page.offset,
    [...page.columns].sort(),
  ];
}

function digest(parts: unknown[]): string {
  return createHash('sha1').update(JSON.stringify(parts)).digest('base64url');
}
