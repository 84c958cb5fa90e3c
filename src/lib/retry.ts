import { setTimeout as sleep } from 'node:timers/promises';
import { type CircuitBreaker, CircuitOpenError, type FailureKind } from './circuit-breaker.ts';

/** How an HTTP call is retried. Delays are in milliseconds. */
export interface RetryPolicy {
  /** Retries after the first attempt (0: try once). */
  retries: number;
  /** Delay before the first retry; each later one doubles, up to maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Per attempt: a request that takes longer is aborted and counts as a network error. */
  timeoutMs: number;
  /** Every attempt goes through it; while it is open, the call fails at once with CircuitOpenError. */
  breaker?: Pick<CircuitBreaker, 'run'>;
}

/** A non-2xx answer, or the last transient failure once retries are spent. */
export class HttpError extends Error {
  readonly status: number | undefined;
  readonly body: string;
  constructor(message: string, status: number | undefined, body = '') {
    super(message);
    this.name = 'HttpError';
    this.status = status;
    this.body = body;
  }
}

/** A transient answer (429, 5xx) inside an attempt: thrown so a circuit breaker counts it as a failure. */
class TransientStatus extends Error {
  readonly response: Response;
  readonly body: string;
  constructor(response: Response, body: string) {
    super(`HTTP ${response.status}`);
    this.response = response;
    this.body = body;
  }
}

/** Classifies a failed attempt for a circuit breaker (see `RetryPolicy.breaker`). */
export function classifyFetchError(error: unknown): FailureKind {
  if (error instanceof TransientStatus) return 'failure';
  // A permanent refusal (a 4xx other than 408/429): the provider is up and answering.
  if (error instanceof HttpError && error.status !== undefined && !isTransientStatus(error.status)) {
    return 'answer';
  }
  return (error as Error).name === 'TimeoutError' ? 'timeout' : 'failure';
}

/**
 * fetch with the retries the seed's fetchWithRetry lacked: only transient failures are retried
 * (network errors, timeouts, 429 and 5xx; never another 4xx, which would fail the same way again),
 * each attempt has a timeout, delays grow exponentially with full jitter so many clients do not
 * retry in lockstep, and a server's Retry-After is honoured (capped by maxDelayMs). With a
 * breaker, each attempt goes through it, and an open circuit ends the retries at once.
 */
export async function fetchWithRetry(
  url: string,
  init: RequestInit,
  policy: RetryPolicy,
  onRetry?: (info: { attempt: number; delayMs: number; reason: string }) => void,
): Promise<Response> {
  const once = async () => {
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(policy.timeoutMs) });
    if (response.ok) return response;
    const body = await response.text().catch(() => '');
    if (isTransientStatus(response.status)) throw new TransientStatus(response, body);
    throw new HttpError(`HTTP ${response.status}: ${providerMessage(body)}`, response.status, body);
  };
  for (let attempt = 0; ; attempt++) {
    let reason: string;
    let retryAfterMs: number | undefined;
    try {
      return await (policy.breaker ? policy.breaker.run(once) : once());
    } catch (error) {
      if (error instanceof HttpError || error instanceof CircuitOpenError) throw error;
      if (error instanceof TransientStatus) {
        const { status } = error.response;
        if (attempt >= policy.retries) {
          throw new HttpError(`HTTP ${status}: ${providerMessage(error.body)}`, status, error.body);
        }
        reason = `HTTP ${status}`;
        retryAfterMs = parseRetryAfter(error.response.headers.get('retry-after'));
      } else {
        const timedOut = (error as Error).name === 'TimeoutError';
        reason = timedOut
          ? `timed out after ${policy.timeoutMs} ms`
          : `network error: ${(error as Error).message}`;
        if (attempt >= policy.retries) throw new HttpError(`Request failed: ${reason}`, undefined);
      }
    }
    const delayMs = Math.min(policy.maxDelayMs, retryAfterMs ?? backoffDelay(attempt, policy.baseDelayMs));
    onRetry?.({ attempt: attempt + 1, delayMs, reason });
    await sleep(delayMs);
  }
}

export function isTransientStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * Exponential backoff with "equal jitter": uniform in [c/2, c] for c = base·2^attempt. Randomness
 * spreads clients apart; the floor keeps each delay at least as long as the previous one's floor.
 */
export function backoffDelay(attempt: number, baseDelayMs: number): number {
  const ceiling = baseDelayMs * 2 ** Math.min(attempt, 20);
  return ceiling / 2 + (Math.random() * ceiling) / 2;
}

/** Retry-After is either seconds or an HTTP date. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** The message an OpenAI-compatible API puts in `{ error: { message } }`, else the body itself. */
function providerMessage(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: { message?: unknown } | string };
    const message = typeof parsed.error === 'string' ? parsed.error : parsed.error?.message;
    if (typeof message === 'string') return message;
  } catch {
    // not JSON: fall through
  }
  return body.slice(0, 500) || '(empty body)';
}
