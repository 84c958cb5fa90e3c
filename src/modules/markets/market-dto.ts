import type { MarketRow } from '../../db/schema.ts';
import { toShares, toUnits } from '../trading/money.ts';
import { MARKET_FIELDS, type MarketDto } from './markets.schemas.ts';

/** Status as users see it: an active market whose close time has passed is closed. */
export function effectiveStatus(
  status: MarketRow['status'],
  closesAt: Date,
  now = Date.now(),
): MarketRow['status'] {
  return status === 'active' && closesAt.getTime() <= now ? 'closed' : status;
}

/** Maps a (possibly partial) row to the API shape: public fields only, ISO dates, money in units. */
export function toMarketDto(row: MarketRow, now?: number): MarketDto;
export function toMarketDto(row: Partial<MarketRow>, now?: number): Partial<MarketDto>;
export function toMarketDto(row: Partial<MarketRow>, now = Date.now()): Partial<MarketDto> {
  const dto: Record<string, unknown> = {};
  for (const key of MARKET_FIELDS) {
    const value = row[key];
    if (value !== undefined) dto[key] = value instanceof Date ? value.toISOString() : value;
  }
  if (row.volume !== undefined) dto.volume = toUnits(row.volume);
  if (row.liquidity !== undefined) dto.liquidity = toUnits(row.liquidity);
  if (row.yesShares !== undefined) dto.yesShares = toShares(row.yesShares);
  if (row.noShares !== undefined) dto.noShares = toShares(row.noShares);
  if (row.status !== undefined && row.closesAt !== undefined)
    dto.status = effectiveStatus(row.status, row.closesAt, now);
  return dto;
}

export interface MarketView {
  market: MarketDto;
  etag: string;
}

const views = new WeakMap<MarketRow, { view: MarketView; validUntil: number }>();

/**
 * A full row's API shape and ETag, built once per row object: a row the cache hands out again
 * and again is mapped once. An active market's view lasts until its close time, when its status
 * turns to closed.
 */
export function viewOf(row: MarketRow, now = Date.now()): MarketView {
  const memo = views.get(row);
  if (memo && now < memo.validUntil) return memo.view;
  const view = { market: toMarketDto(row, now), etag: etagOf(row) };
  views.set(row, { view, validUntil: row.status === 'active' ? row.closesAt.getTime() : Infinity });
  return view;
}

export function etagOf(row: Pick<MarketRow, 'id' | 'version'>): string {
  return `"${row.version}"`;
}
