import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';

/** Polls until `check` holds (background jobs run on their own schedule). */
export async function eventually(
  check: () => Promise<boolean> | boolean,
  timeoutMs = 15_000,
  what = 'condition',
) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(100);
  }
  assert.fail(`${what} not met within ${timeoutMs} ms`);
}

/**
 * Waits until no statement has run for `quietMs` (at most `timeoutMs`): background work a write
 * set off (the streams' read of the event log after its NOTIFY) is done before a test counts queries.
 */
export async function backgroundQuiet(stats: { queries: number }, quietMs = 50, timeoutMs = 2_000) {
  const deadline = Date.now() + timeoutMs;
  let seen = stats.queries;
  while (Date.now() < deadline) {
    await sleep(quietMs);
    if (stats.queries === seen) return;
    seen = stats.queries;
  }
}
