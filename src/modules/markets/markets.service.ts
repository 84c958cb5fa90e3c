import type { Kysely } from 'kysely';
import { isUniqueViolation } from '../../db/errors.ts';
import type { DB, MarketRow, Outcome } from '../../db/schema.ts';
import { inTransaction, type Trx } from '../../db/transaction.ts';
import { BINARY_OUTCOMES } from '../../domain/binary-lmsr.ts';
import { type CursorValueKind, decodeCursor, encodeCursor } from '../../lib/cursor.ts';
import { deadlineIn } from '../../lib/deadline.ts';
import { ApiError } from '../../lib/errors.ts';
import { slugify, UUID_PATTERN, withRandomSuffix } from '../../lib/slug.ts';
import { type AuthUser, canModify } from '../auth/permissions.ts';
import type { EventRepository } from '../events/events.repository.ts';
import type { UserRepository } from '../users/users.repository.ts';
import { etagOf, shapeChangesAt, sharedDto, toMarketDto, viewOf } from './market-dto.ts';
import { assertEditable } from './market-edit-rules.ts';
import type { MarketFilters, MarketRepository } from './markets.repository.ts';
import {
  type CreateMarketInput,
  type ListMarketsQuery,
  MARKET_FIELDS,
  type MarketField,
  type PatchMarketInput,
  type ReplaceMarketInput,
  type SortField,
} from './markets.schemas.ts';

export type MarketsService = ReturnType<typeof createMarketsService>;

/** An edit without If-Match that keeps losing the race to concurrent changes gives up after this many tries (409). */
const EDIT_ATTEMPTS = 5;

/** The money side of a market's life, provided by the trading module; runs inside our transactions. */
export interface MarketFunding {
  fund(
    trx: Trx,
    market: MarketRow,
    creatorId: string,
    initialPosition?: { outcome: Outcome; amount: number },
  ): Promise<MarketRow>;
  release(trx: Trx, market: MarketRow): Promise<void>;
  /** Whether anyone has traded on the market (its question and close time are then held to). */
  isTraded(marketId: string): Promise<boolean>;
}

interface Deps {
  db: Kysely<DB>;
  markets: MarketRepository;
  users: Pick<UserRepository, 'findProfiles'>;
  funding: MarketFunding;
  /** The event log: each change appends its event as the last statement of its transaction. */
  events: Pick<EventRepository, 'append'>;
  /** LMSR b for markets created without one, in cents. */
  defaultLiquidity: number;
  /** WRITE_DEADLINE_MS: creating (funding) or deleting a market not done by then answers 503, nothing committed. */
  deadlineMs: number;
  /** Called after a commit that changed a market (cache invalidation). */
  onMarketChanged?: (marketId: string) => Promise<void>;
  /** Runs inside the transaction that creates a market or changes its text (search enqueues indexing). */
  indexing?: (trx: Trx, marketId: string) => Promise<unknown>;
}

export function createMarketsService({
  db,
  markets,
  users,
  funding,
  events,
  defaultLiquidity,
  deadlineMs,
  onMarketChanged,
  indexing,
}: Deps) {
  function find(idOrSlug: string): Promise<MarketRow | undefined> {
    return UUID_PATTERN.test(idOrSlug)
      ? markets.findById(idOrSlug.toLowerCase())
      : markets.findBySlug(idOrSlug);
  }

  async function findOrThrow(idOrSlug: string): Promise<MarketRow> {
    const market = await find(idOrSlug);
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

  /** Market row, subsidy and initial position in one transaction; a taken derived slug gets a suffix. */
  async function insertFunded(
    user: AuthUser,
    input: CreateMarketInput,
    receivedAt: number | undefined,
  ): Promise<MarketRow> {
    const explicit = input.slug !== undefined;
    let slug = input.slug ?? slugify(input.name);
    // The schema parsed both amounts into integer cents.
    const liquidity = input.liquidity ?? defaultLiquidity;
    const initialPosition = input.initialPosition;
    const deadline = deadlineIn(deadlineMs, receivedAt);
    for (let attempt = 0; ; attempt++) {
      try {
        // The lock order of every money path (ledger.repository.ts): the new market row, then its creator.
        return await inTransaction(
          db,
          async (trx) => {
            const market = await markets.create(
              {
                slug,
                name: input.name,
                description: input.description,
                category: input.category,
                tags: input.tags,
                closesAt: input.closesAt,
                creatorId: user.id,
                liquidity,
                type: input.answers ? 'multiple' : 'binary',
                // Every answer starts at 1/N; a binary market at 0.5 as always.
                probability: input.answers ? 1 / input.answers.length : 0.5,
              },
              input.answers ?? BINARY_OUTCOMES,
              trx,
            );
            const funded = await funding.fund(trx, market, user.id, initialPosition);
            await indexing?.(trx, funded.id);
            // One event for the creation, its initial position included (the DTO shows its effect).
            await events.append(trx, {
              type: 'market.created',
              marketId: funded.id,
              payload: toMarketDto(funded),
            });
            return funded;
          },
          { deadline },
        );
      } catch (error) {
        if (!isUniqueViolation(error, 'markets_slug_key')) throw error;
        if (explicit) throw ApiError.conflict(`Slug "${slug}" is already taken`, 'SLUG_TAKEN');
        if (attempt >= 4) throw error;
        slug = withRandomSuffix(slugify(input.name).slice(0, 70));
      }
    }
  }

  /**
   * An edit is checked against the row read and written only if the row is still at that version.
   * Without If-Match the client asked for no version: when a change (a trade) lands in between,
   * the edit is checked again against the row now there and retried, up to EDIT_ATTEMPTS times.
   * With If-Match a version mismatch is the client's 412.
   */
  async function applyUpdate(
    user: AuthUser,
    idOrSlug: string,
    changes: PatchMarketInput | ReplaceMarketInput,
    ifMatch: string | undefined,
  ) {
    let market = await findOrThrow(idOrSlug);
    if (!canModify(user, market.creatorId))
      throw ApiError.forbidden('Only the creator or a moderator may edit this market');
    const required = assertFresh(market, ifMatch);
    for (let attempt = 1; ; attempt++) {
      const updated = await updateIfAt(user, market, changes, required ?? market.version);
      if (updated) {
        // Written inside a transaction, past the cache: drop what it holds of this market.
        await onMarketChanged?.(updated.id);
        return { market: toMarketDto(updated), etag: etagOf(updated) };
      }
      // Someone else updated it between our read and write.
      if (required !== undefined)
        throw ApiError.preconditionFailed('Market was changed by another request; fetch it and retry');
      if (attempt === EDIT_ATTEMPTS)
        throw ApiError.conflict('Market kept changing while it was being edited; retry', 'EDIT_CONFLICT');
      // The row as committed now, from the primary past the cache (which may still hold the old one).
      const current = await markets.findById(market.id, db);
      if (!current) throw ApiError.notFound('Market');
      market = current;
    }
  }

  /** The edit's rules on `market`, then the update if the row is still at `expected`; undefined if not. */
  async function updateIfAt(
    user: AuthUser,
    market: MarketRow,
    changes: PatchMarketInput | ReplaceMarketInput,
    expected: number,
  ): Promise<MarketRow | undefined> {
    await assertEditable(market, changes, user, () => funding.isTraded(market.id));
    // A moderator moving a closed market's close time later reopens it.
    const reopens = market.status === 'closed' && changes.closesAt !== undefined;
    try {
      const newText = changes.name !== undefined || changes.description !== undefined;
      return await inTransaction(db, async (trx) => {
        // A trade bumps the version: one that lands after our checks makes this update miss.
        const row = await markets.update(
          market.id,
          reopens ? { ...changes, status: 'active' } : changes,
          expected,
          trx,
        );
        // New text means a new embedding: enqueued in the same transaction as the change.
        if (row && newText) await indexing?.(trx, row.id);
        if (row)
          await events.append(trx, { type: 'market.updated', marketId: row.id, payload: toMarketDto(row) });
        return row;
      });
    } catch (error) {
      if (isUniqueViolation(error, 'markets_slug_key'))
        throw ApiError.conflict(`Slug "${changes.slug}" is already taken`, 'SLUG_TAKEN');
      throw error;
    }
  }

  return {
    async list(query: ListMarketsQuery) {
      const requested = query.fields ?? MARKET_FIELDS;
      const includeCreator = query.include?.includes('creator') ?? false;
      const columns = new Set<MarketField>([...requested, 'id', query.sort]);
      if (includeCreator) columns.add('creatorId');
      if (columns.has('status')) columns.add('closesAt');
      const after = query.cursor
        ? decodeCursor(query.cursor, { ...query, kind: SORT_VALUE_KINDS[query.sort] })
        : undefined;
      if (after && query.offset > 0) throw ApiError.badRequest('Use either cursor or offset, not both');

      const filters: MarketFilters = {
        status: query.status,
        category: query.category,
        creatorId: query.creatorId,
        tag: query.tag,
        ids: query.ids,
        volumeMin: query.volumeMin,
        volumeMax: query.volumeMax,
        closesAfter: query.closesAfter,
        closesBefore: query.closesBefore,
        type: query.type,
      };
      const [page, total] = await Promise.all([
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
      const render = () => renderList(page, query, requested, total, after !== undefined);
      if (!includeCreator) return sharedList(page, `${requested.join()}|${total}`, render);

      const creators = await users.findProfiles(page.rows.map((r) => r.creatorId!));
      const result = render();
      result.data = result.data.map((dto, i) => ({
        ...dto,
        creator: creators.get(page.rows[i]!.creatorId!),
      }));
      return result;
    },

    async get(idOrSlug: string) {
      return viewOf(await findOrThrow(idOrSlug));
    },

    /** Each market's id, in order, undefined for one that does not exist (the reads of several markets). */
    async idsOf(idsOrSlugs: string[]): Promise<(string | undefined)[]> {
      return Promise.all(idsOrSlugs.map(async (idOrSlug) => (await find(idOrSlug))?.id));
    },

    /** receivedAt (here and in remove): when the request arrived, the start of its deadline (default: now). */
    async create(user: AuthUser, input: CreateMarketInput, receivedAt?: number) {
      const market = await insertFunded(user, input, receivedAt);
      // Created inside a transaction, past the cache: cached list pages must learn of it.
      await onMarketChanged?.(market.id);
      return { market: toMarketDto(market), etag: etagOf(market) };
    },

    /** PUT: every editable field is replaced; a missing slug keeps the current one. */
    replace(user: AuthUser, idOrSlug: string, input: ReplaceMarketInput, ifMatch: string | undefined) {
      return applyUpdate(user, idOrSlug, input, ifMatch);
    },

    patch(user: AuthUser, idOrSlug: string, input: PatchMarketInput, ifMatch: string | undefined) {
      return applyUpdate(user, idOrSlug, input, ifMatch);
    },

    /** Deletes a market without trades and returns its subsidy to the creator, atomically. */
    async remove(user: AuthUser, idOrSlug: string, receivedAt?: number): Promise<void> {
      const id = await inTransaction(
        db,
        async (trx) => {
          // Market, then (releasing the subsidy) its creator: the lock order of every money path.
          const market = await markets.findForUpdate(trx, idOrSlug, { forDelete: true });
          if (!market) throw ApiError.notFound('Market');
          if (!canModify(user, market.creatorId)) {
            throw ApiError.forbidden('Only the creator or a moderator may delete this market');
          }
          await funding.release(trx, market);
          await markets.delete(market.id, trx);
          await events.append(trx, {
            type: 'market.deleted',
            marketId: market.id,
            payload: { id: market.id, slug: market.slug },
          });
          return market.id;
        },
        { deadline: deadlineIn(deadlineMs, receivedAt) },
      );
      await onMarketChanged?.(id);
    },
  };
}

/** volume is integer cents; timestamps travel as ISO strings. */
const SORT_VALUE_KINDS: Record<SortField, CursorValueKind> = {
  volume: 'integer',
  probability: 'number',
  createdAt: 'timestamp',
  closesAt: 'timestamp',
  name: 'string',
};

function cursorValue(value: unknown): string | number {
  return value instanceof Date ? value.toISOString() : (value as string | number);
}

export type MarketList = ReturnType<typeof renderList>;

/** A page in the API's shape: the requested fields of each row, and where the next page starts. */
function renderList(
  { rows, hasMore }: { rows: Partial<MarketRow>[]; hasMore: boolean },
  query: ListMarketsQuery,
  requested: readonly MarketField[],
  total: number | undefined,
  byCursor: boolean,
) {
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
  // Every field: the shared DTO is the row's whole API shape (the serializer writes the schema's order).
  const data =
    requested === MARKET_FIELDS
      ? rows.map((row) => sharedDto(row))
      : rows.map((row) => {
          const full = sharedDto(row);
          const dto: Record<string, unknown> = {};
          for (const key of requested) dto[key] = full[key];
          return dto;
        });
  return {
    data,
    meta: {
      limit: query.limit,
      offset: byCursor ? 0 : query.offset,
      nextCursor,
      hasMore,
      ...(total !== undefined && { total }),
    },
  };
}

/**
 * The result built from a page once per page object and shape (fields, total): a page the cache
 * hands out again and again (frozen, as cache.ts hands it out) is rendered once, until the first
 * of its rows changes shape, and the result is frozen too (its body is then serialised once:
 * body-memo.ts). A page fresh from the database is seen once: rendered, not remembered.
 */
const listResults = new WeakMap<object, Map<string, { result: MarketList; validUntil: number }>>();
function sharedList(page: object & { rows: Partial<MarketRow>[] }, shape: string, render: () => MarketList) {
  if (!Object.isFrozen(page)) return render();
  const now = Date.now();
  let byShape = listResults.get(page);
  const memo = byShape?.get(shape);
  if (memo && now < memo.validUntil) return memo.result;
  const result = Object.freeze(render());
  if (!byShape) {
    byShape = new Map();
    listResults.set(page, byShape);
  }
  byShape.set(shape, { result, validUntil: Math.min(Infinity, ...page.rows.map(shapeChangesAt)) });
  return result;
}
