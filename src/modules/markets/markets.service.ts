import type { Kysely } from 'kysely';
import { isUniqueViolation } from '../../db/errors.ts';
import type { DB, MarketRow } from '../../db/schema.ts';
import { decodeCursor, encodeCursor } from '../../lib/cursor.ts';
import { ApiError } from '../../lib/errors.ts';
import { slugify, UUID_PATTERN, withRandomSuffix } from '../../lib/slug.ts';
import { type AuthUser, canModify } from '../auth/permissions.ts';
import type { UserRepository } from '../users/users.repository.ts';
import { etagOf, toMarketDto } from './market-dto.ts';
import type { MarketRepository } from './markets.repository.ts';
import {
  type CreateMarketInput,
  type ListMarketsQuery,
  MARKET_FIELDS,
  type MarketField,
  type PatchMarketInput,
} from './markets.schemas.ts';

export type MarketsService = ReturnType<typeof createMarketsService>;

interface Deps {
  markets: MarketRepository;
  users: Pick<UserRepository, 'findProfiles'>;
  /** Refuses deleting a market with trades; the trading module provides it. */
  hasTrades?: (marketId: string) => Promise<boolean>;
  /** Runs in the transaction that creates a market or changes its text (search enqueues indexing here). */
  afterWrite?: AfterWrite | undefined;
}

/** The hook and the transaction it runs in. */
export interface AfterWrite {
  transaction: <T>(fn: (trx: Kysely<DB>) => Promise<T>) => Promise<T>;
  hook: (trx: Kysely<DB>, marketId: string) => Promise<unknown>;
}

export function createMarketsService({ markets, users, hasTrades, afterWrite }: Deps) {
  /** Runs a write, with the afterWrite hook in the same transaction when there is one. */
  function write<R extends MarketRow | undefined>(
    run: (trx?: Kysely<DB>) => Promise<R>,
    notify = true,
  ): Promise<R> {
    if (!afterWrite || !notify) return run();
    return afterWrite.transaction(async (trx) => {
      const row = await run(trx);
      if (row) await afterWrite.hook(trx, row.id);
      return row;
    });
  }

  async function findOrThrow(idOrSlug: string): Promise<MarketRow> {
    const market = UUID_PATTERN.test(idOrSlug)
      ? await markets.findById(idOrSlug.toLowerCase())
      : await markets.findBySlug(idOrSlug);
    if (!market) throw ApiError.notFound('Market');
    return market;
  }

  function assertFresh(market: MarketRow, ifMatch: string | undefined): number | undefined {
    if (ifMatch === undefined || ifMatch.trim() === '*') return undefined;
    const versions = ifMatch.split(',').map((t) => t.trim().replace(/^W\//, ''));
    if (!versions.includes(etagOf(market))) {
      throw ApiError.preconditionFailed(
        `Market was changed (current ETag ${etagOf(market)}); fetch it and retry`,
      );
    }
    return market.version;
  }

  async function insertWithSlug(user: AuthUser, input: CreateMarketInput): Promise<MarketRow> {
    const explicit = input.slug !== undefined;
    let slug = input.slug ?? slugify(input.name);
    for (let attempt = 0; ; attempt++) {
      try {
        const values = {
          slug,
          name: input.name,
          description: input.description,
          category: input.category,
          tags: input.tags,
          closesAt: input.closesAt,
          creatorId: user.id,
        };
        // One transaction per attempt: a unique violation aborts the transaction it happens in.
        return await write((trx) => markets.create(values, trx));
      } catch (error) {
        if (!isUniqueViolation(error, 'markets_slug_key')) throw error;
        if (explicit) throw ApiError.conflict(`Slug "${slug}" is already taken`, 'SLUG_TAKEN');
        if (attempt >= 4) throw error;
        slug = withRandomSuffix(slugify(input.name).slice(0, 70));
      }
    }
  }

  async function applyUpdate(
    user: AuthUser,
    idOrSlug: string,
    changes: PatchMarketInput,
    ifMatch: string | undefined,
  ) {
    const market = await findOrThrow(idOrSlug);
    if (!canModify(user, market.creatorId))
      throw ApiError.forbidden('Only the creator or a moderator may edit this market');
    if (market.status !== 'active')
      throw ApiError.conflict(`A ${market.status} market cannot be edited`, 'MARKET_NOT_EDITABLE');
    const expected = assertFresh(market, ifMatch) ?? market.version;
    let updated: MarketRow | undefined;
    try {
      const textChanged = changes.name !== undefined || changes.description !== undefined;
      updated = await write((trx) => markets.update(market.id, changes, expected, trx), textChanged);
    } catch (error) {
      if (isUniqueViolation(error, 'markets_slug_key'))
        throw ApiError.conflict(`Slug "${changes.slug}" is already taken`, 'SLUG_TAKEN');
      throw error;
    }
    // Someone else updated it between our read and write.
    if (!updated)
      throw ApiError.preconditionFailed('Market was changed by another request; fetch it and retry');
    return { market: toMarketDto(updated), etag: etagOf(updated) };
  }

  return {
    async list(query: ListMarketsQuery) {
      const requested = query.fields ?? MARKET_FIELDS;
      const includeCreator = query.include?.includes('creator') ?? false;
      const columns = new Set<MarketField>([...requested, 'id', query.sort]);
      if (includeCreator) columns.add('creatorId');
      if (columns.has('status')) columns.add('closesAt');
      const after = query.cursor ? decodeCursor(query.cursor, query) : undefined;
      if (after && query.offset > 0) throw ApiError.badRequest('Use either cursor or offset, not both');

      const filters = {
        status: query.status,
        category: query.category,
        creatorId: query.creatorId,
        tag: query.tag,
      };
      const [{ rows, hasMore }, total] = await Promise.all([
        markets.list({
          filters,
          sort: query.sort,
          order: query.order,
          limit: query.limit,
          offset: query.offset,
          after,
          columns: [...columns],
        }),
        query.count ? markets.count(filters) : undefined,
      ]);
      const creators = includeCreator ? await users.findProfiles(rows.map((r) => r.creatorId!)) : undefined;

      const last = rows.at(-1);
      const nextCursor =
        hasMore && last
          ? encodeCursor({
              sort: query.sort,
              order: query.order,
              value: cursorValue(last[query.sort]),
              id: last.id!,
            })
          : null;
      const wanted = new Set<string>(requested);
      const data = rows.map((row) => {
        const dto = toMarketDto(row) as Record<string, unknown>;
        for (const key of Object.keys(dto)) if (!wanted.has(key)) delete dto[key];
        if (creators) dto.creator = creators.get(row.creatorId!);
        return dto;
      });
      return {
        data,
        meta: {
          limit: query.limit,
          offset: after ? 0 : query.offset,
          nextCursor,
          hasMore,
          ...(total !== undefined && { total }),
        },
      };
    },

    async get(idOrSlug: string) {
      const market = await findOrThrow(idOrSlug);
      return { market: toMarketDto(market), etag: etagOf(market) };
    },

    async create(user: AuthUser, input: CreateMarketInput) {
      const market = await insertWithSlug(user, input);
      return { market: toMarketDto(market), etag: etagOf(market) };
    },

    /** PUT: every editable field is replaced; a missing slug keeps the current one. */
    replace(user: AuthUser, idOrSlug: string, input: CreateMarketInput, ifMatch: string | undefined) {
      return applyUpdate(user, idOrSlug, input, ifMatch);
    },

    patch(user: AuthUser, idOrSlug: string, input: PatchMarketInput, ifMatch: string | undefined) {
      return applyUpdate(user, idOrSlug, input, ifMatch);
    },

    async remove(user: AuthUser, idOrSlug: string): Promise<void> {
      const market = await findOrThrow(idOrSlug);
      if (!canModify(user, market.creatorId))
        throw ApiError.forbidden('Only the creator or a moderator may delete this market');
      if (hasTrades && (await hasTrades(market.id))) {
        throw ApiError.conflict(
          'A market with trades cannot be deleted; cancel it instead',
          'MARKET_HAS_TRADES',
        );
      }
      await markets.delete(market.id);
    },
  };
}

function cursorValue(value: unknown): string | number {
  return value instanceof Date ? value.toISOString() : (value as string | number);
}
