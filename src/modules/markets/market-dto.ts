import type { MarketRow } from '../../db/schema.ts';
import type { MarketDto } from './markets.schemas.ts';

const CENTS = 100;

/** Status as users see it: an active market whose close time has passed is closed. */
export function effectiveStatus(
  status: MarketRow['status'],
  closesAt: Date,
  now = Date.now(),
): MarketRow['status'] {
  return status === 'active' && closesAt.getTime() <= now ? 'closed' : status;
}

/** Maps a (possibly partial) row to the API shape: ISO dates, money in units. */
export function toMarketDto(row: MarketRow): MarketDto;
export function toMarketDto(row: Partial<MarketRow>): Partial<MarketDto>;
export function toMarketDto(row: Partial<MarketRow>): Partial<MarketDto> {
  const dto: Partial<MarketDto> = {};
  for (const [key, value] of Object.entries(row) as [keyof MarketRow, unknown][]) {
    if (value instanceof Date) (dto as Record<string, unknown>)[key] = value.toISOString();
    else (dto as Record<string, unknown>)[key] = value;
  }
  if (row.volume !== undefined) dto.volume = row.volume / CENTS;
  if (row.status !== undefined && row.closesAt !== undefined)
    dto.status = effectiveStatus(row.status, row.closesAt);
  return dto;
}

export function etagOf(row: Pick<MarketRow, 'id' | 'version'>): string {
  return `"${row.version}"`;
}
