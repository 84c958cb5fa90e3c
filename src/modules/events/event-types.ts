/**
 * The event types a consumer (a webhook subscription) may name. The log itself accepts any
 * `^[a-z]+\.[a-z]+$` type (006_events.sql); this list is what is documented and validated
 * against, so a typo ("trade.create") is a 400 rather than a subscription that never fires.
 * A type added to the log is added here too.
 */
export const KNOWN_EVENT_TYPES = [
  'market.created',
  'market.updated',
  'market.deleted',
  'market.resolved',
  'market.cancelled',
  'market.closed',
  'trade.created',
  'comment.created',
  'comment.deleted',
] as const;

export type KnownEventType = (typeof KNOWN_EVENT_TYPES)[number];

/** The groups a subscription may name as `<group>.*`. */
export const EVENT_GROUPS = [...new Set(KNOWN_EVENT_TYPES.map((t) => t.split('.')[0]!))];

/** A type, a `<group>.*` wildcard, or `*` (every type). */
export function isEventSelector(value: string): boolean {
  if (value === '*') return true;
  if (value.endsWith('.*')) return EVENT_GROUPS.includes(value.slice(0, -2));
  return (KNOWN_EVENT_TYPES as readonly string[]).includes(value);
}

/** Whether an event of `type` is selected by any of `selectors`. */
export function selects(selectors: readonly string[], type: string): boolean {
  const group = `${type.split('.')[0]}.*`;
  return selectors.some((s) => s === '*' || s === type || s === group);
}
