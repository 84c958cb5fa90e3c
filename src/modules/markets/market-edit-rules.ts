import type { MarketRow } from '../../db/schema.ts';
import { MarketHasTrades, MarketNotEditable } from '../../domain/domain-errors.ts';
import { effectiveStatus, isSettled } from '../../domain/market-status.ts';
import { ApiError } from '../../lib/errors.ts';
import type { AuthUser } from '../auth/permissions.ts';
import type { PatchMarketInput } from './markets.schemas.ts';

const isModerator = (user: AuthUser) => user.role === 'moderator' || user.role === 'admin';

/**
 * What an edit may change, by the market's effective status (an active market past its close time
 * is closed) and whether it has been traded:
 * - resolved or cancelled: nothing;
 * - closed: only a moderator or an admin may edit it, and moving its close time later reopens it;
 * - traded: the question stays as traders bought it (name and description, which holds the
 *   resolution criteria), and the close time only moves later, so nobody can close a market early
 *   and resolve it while its traders expect more time. Category, tags and slug may still change.
 * The caller has checked that the user may modify the market at all.
 */
export async function assertEditable(
  market: MarketRow,
  changes: PatchMarketInput,
  user: AuthUser,
  isTraded: () => Promise<boolean>,
): Promise<void> {
  const status = effectiveStatus(market.status, market.closesAt);
  if (isSettled(status)) throw new MarketNotEditable(status);
  if (status === 'closed' && !isModerator(user))
    throw ApiError.forbidden('This market has closed: only a moderator or an admin may edit or reopen it');

  const renamed = changes.name !== undefined && changes.name !== market.name;
  const redescribed = changes.description !== undefined && changes.description !== market.description;
  const earlier = changes.closesAt !== undefined && changes.closesAt.getTime() < market.closesAt.getTime();
  if (!renamed && !redescribed && !earlier) return;
  if (!(await isTraded())) return;
  if (renamed || redescribed)
    throw new MarketHasTrades(
      'This market has trades: its name and description (the question traders bought) can no longer change',
    );
  throw new MarketHasTrades('This market has trades: its close time can only move later');
}
