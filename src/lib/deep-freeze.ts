/**
 * Freezes a value and everything in it. A frozen object is one handed out to several readers
 * (a cache hit, one lookup answering several callers): none may change it, and the memos that
 * spare work on objects seen again (market-dto.ts, body-memo.ts) remember only frozen ones.
 */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const field of Object.values(value)) deepFreeze(field);
  }
  return value;
}
