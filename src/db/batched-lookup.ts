import { coalescedPerTurn } from '../lib/coalesced-per-turn.ts';
import { deepFreeze } from '../lib/deep-freeze.ts';

/** Keys one statement looks up at most; a larger batch is split. */
const MAX_KEYS = 100;

/**
 * Lookups by key, coalesced per turn: one statement for the distinct keys of a turn (at most
 * MAX_KEYS each). `loadMany` answers the rows found, in any order; `keyOf` names each row's key
 * as the callers spell it; a key no row has answers undefined. A row answered to several callers
 * is one object, frozen (deep-freeze.ts): it is shared, as a cache hit is.
 */
export function batchedLookup<R>(
  loadMany: (keys: string[]) => Promise<readonly R[]>,
  keyOf: (row: R) => string,
): (key: string) => Promise<R | undefined> {
  return coalescedPerTurn(async (keys: string[]) => {
    const distinct = [...new Set(keys)];
    const chunks: string[][] = [];
    for (let i = 0; i < distinct.length; i += MAX_KEYS) chunks.push(distinct.slice(i, i + MAX_KEYS));
    const found = new Map<string, R>();
    for (const rows of await Promise.all(chunks.map(loadMany)))
      for (const row of rows) found.set(keyOf(row), row);
    const answered = new Set<string>();
    return keys.map((key) => {
      const row = found.get(key);
      if (answered.has(key)) deepFreeze(row);
      answered.add(key);
      return row;
    });
  });
}
