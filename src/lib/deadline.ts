import { ApiError } from './errors.ts';

/** The moment by which a request must be answered (WRITE_DEADLINE_MS after it started). */
export interface Deadline {
  readonly at: number;
  remainingMs(): number;
  expired(): boolean;
}

export function deadlineIn(ms: number, now = Date.now()): Deadline {
  const at = now + ms;
  return {
    at,
    remainingMs: () => Math.max(0, at - Date.now()),
    expired: () => Date.now() >= at,
  };
}

/** What a request past its deadline answers; nothing it started was committed. */
export function deadlineExceeded(): ApiError {
  return ApiError.unavailable(
    'The request could not be served in time; nothing was changed. Retry shortly',
    1,
  );
}

/**
 * Runs `task`, which waits (in a queue, for a connection) and then calls `begin()` as it starts
 * its work. If the deadline passes before it began, the caller is answered at the deadline and
 * `begin()` throws when the wait is over, so the task gives up without doing anything. Once it
 * has begun the task keeps its own deadline (a transaction cannot be abandoned mid-way: its
 * answer waits for the rollback).
 */
export function startBy<T>(deadline: Deadline, task: (begin: () => void) => Promise<T>): Promise<T> {
  let state: 'waiting' | 'begun' | 'expired' = 'waiting';
  const begin = () => {
    if (state === 'expired' || deadline.expired()) {
      state = 'expired';
      throw deadlineExceeded();
    }
    state = 'begun';
  };
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      if (state !== 'waiting') return;
      state = 'expired';
      reject(deadlineExceeded());
    }, deadline.remainingMs());
    (async () => task(begin))()
      .then(resolve, reject)
      .finally(() => clearTimeout(timer));
  });
}
