import type { MarketRow } from '../../db/schema.ts';
import { answerProbabilities } from '../../domain/answers.ts';
import { effectiveStatus, statusChangesAt } from '../../domain/market-status.ts';
import { toShares, toUnits } from '../../domain/money.ts';
import { MARKET_FIELDS, type MarketDto } from './markets.schemas.ts';

/** Maps a (possibly partial) row to the API shape: public fields only, ISO dates, money in units. */
export function toMarketDto(row: MarketRow, now?: number): MarketDto;
export function toMarketDto(row: Partial<MarketRow>, now?: number): Partial<MarketDto>;
export function toMarketDto(row: Partial<MarketRow>, now = Date.now()): Partial<MarketDto> {
  const dto: Record<string, unknown> = {};
  for (const key of MARKET_FIELDS) {
    const value = (row as Record<string, unknown>)[key];
    if (value !== undefined) dto[key] = value instanceof Date ? value.toISOString() : value;
  }
  if (row.volume !== undefined) dto.volume = toUnits(row.volume);
  if (row.liquidity !== undefined) dto.liquidity = toUnits(row.liquidity);
  if (row.shares !== undefined) {
    // Binary markets only; a multiple-choice market's shares are per answer (0 here).
    const binary = row.type !== 'multiple';
    dto.yesShares = binary ? toShares(row.shares[0]!) : 0;
    dto.noShares = binary ? toShares(row.shares[1]!) : 0;
  }
  if (row.answers !== undefined && row.shares !== undefined && row.type !== undefined) {
    const probabilities = answerProbabilities({
      type: row.type,
      probability: row.probability!,
      shares: row.shares,
      liquidity: row.liquidity!,
    });
    dto.answers = row.answers.map((a, i) => ({ id: a.id, text: a.text, probability: probabilities[i]! }));
  }
  if (row.resolvedAnswerIndex !== undefined)
    dto.resolvedAnswerId =
      row.resolvedAnswerIndex === null ? null : (row.answers?.[row.resolvedAnswerIndex]?.id ?? null);
  if (row.status !== undefined && row.closesAt !== undefined)
    dto.status = effectiveStatus(row.status, row.closesAt, now);
  return dto;
}

/** When a row's API shape changes by itself: an active market's close time (its status turns closed); else never. */
export function shapeChangesAt(row: Partial<MarketRow>): number {
  return statusChangesAt(row.status, row.closesAt);
}

const shared = new WeakMap<Partial<MarketRow>, { dto: Partial<MarketDto>; validUntil: number }>();

/**
 * toMarketDto once per row object, for rows the cache hands out again and again (the same frozen
 * object while its entry is unchanged: cache.ts freezes what it hands out), until shapeChangesAt.
 * A row that is not frozen is fresh from the database and seen once: it is not remembered. The
 * result is frozen too: copy it to change it.
 */
export function sharedDto(row: MarketRow): Readonly<MarketDto>;
export function sharedDto(row: Partial<MarketRow>): Readonly<Partial<MarketDto>>;
export function sharedDto(row: Partial<MarketRow>): Readonly<Partial<MarketDto>> {
  const now = Date.now();
  if (!Object.isFrozen(row)) return Object.freeze(toMarketDto(row, now));
  const memo = shared.get(row);
  if (memo && now < memo.validUntil) return memo.dto;
  const dto = Object.freeze(toMarketDto(row, now));
  shared.set(row, { dto, validUntil: shapeChangesAt(row) });
  return dto;
}

export interface MarketView {
  market: Readonly<MarketDto>;
  etag: string;
}

const views = new WeakMap<MarketRow, MarketView>();

/**
 * A full row's shared DTO and its ETag; for a row the cache hands out again, the same frozen
 * object while the DTO stays the same (so that its body is serialised once: body-memo.ts).
 */
export function viewOf(row: MarketRow): MarketView {
  const market = sharedDto(row);
  if (!Object.isFrozen(row)) return { market, etag: etagOf(row) };
  let view = views.get(row);
  if (view?.market !== market) {
    view = Object.freeze({ market, etag: etagOf(row) });
    views.set(row, view);
  }
  return view;
}

export function etagOf(row: Pick<MarketRow, 'id' | 'version'>): string {
  return `"${row.version}"`;
}
