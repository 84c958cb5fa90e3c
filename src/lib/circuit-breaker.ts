import type { FastifyBaseLogger } from 'fastify';

export type CircuitState = 'closed' | 'open';

/** What a failed call says about the dependency. */
export type FailureKind =
  /** It did not answer in time: open at once, every further call would wait as long. */
  | 'timeout'
  /** It failed (refused, reset, 5xx): open after `failureThreshold` in a row. */
  | 'failure'
  /** It answered, with an error about this call (a 4xx, a script error): the dependency is fine. */
  | 'answer';

/** Rejected at once, without calling the dependency, while its circuit is open. */
export class CircuitOpenError extends Error {
  constructor(name: string) {
    super(`${name} circuit is open: skipped until a probe finds it answering again`);
    this.name = 'CircuitOpenError';
  }
}

export interface CircuitBreakerOptions {
  /** The dependency, as in logs, /metrics and /readyz. */
  name: string;
  log: FastifyBaseLogger;
  /** Resolves when the dependency answers; run in the background while open, never by a user request. */
  probe: () => Promise<unknown>;
  classify: (error: unknown) => FailureKind;
  /** Failures in a row (timeouts excepted) that open the circuit. */
  failureThreshold?: number;
  /** Time between opening and the first probe, and between probes while the dependency stays down. */
  coolDownMs?: number;
}

export type CircuitBreaker = ReturnType<typeof createCircuitBreaker>;

/**
 * Stops asking a dependency that just timed out or keeps failing: calls are refused at once for a
 * cool-down, and callers take their fallback (the database, the in-memory counters, full text).
 * Unlike the usual half-open state, where the next user request is the trial and waits out a
 * timeout if the dependency is still hung, a background probe decides when to close.
 */
export function createCircuitBreaker({
  name,
  log,
  probe,
  classify,
  failureThreshold = 3,
  coolDownMs = 1000,
}: CircuitBreakerOptions) {
  let state: CircuitState = 'closed';
  let failures = 0;
  let opened = 0;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const onClose: (() => void)[] = [];
  const onOpen: (() => void)[] = [];

  function scheduleProbe() {
    if (stopped) return;
    timer = setTimeout(async () => {
      try {
        await probe();
      } catch {
        return scheduleProbe(); // still down: the opening was logged, each probe is not
      }
      state = 'closed';
      failures = 0;
      log.info({ dependency: name }, `${name} answers again: circuit closed`);
      for (const listener of onClose) listener();
    }, coolDownMs);
    timer.unref();
  }

  function failed(error: unknown) {
    if (state === 'open') return;
    const kind = classify(error);
    if (kind === 'answer') {
      failures = 0;
      return;
    }
    if (kind === 'failure' && ++failures < failureThreshold) return;
    state = 'open';
    opened++;
    log.warn(
      { err: error, dependency: name, coolDownMs },
      `${name} ${kind === 'timeout' ? 'timed out' : 'keeps failing'}: circuit open, calls skip it until a probe answers`,
    );
    scheduleProbe();
    for (const listener of onOpen) listener();
  }

  return {
    name,
    get state(): CircuitState {
      return state;
    },
    /** How many times the circuit opened. */
    get opened(): number {
      return opened;
    },
    /** Calls `call` unless the circuit is open (then rejects with CircuitOpenError at once). */
    run<T>(call: () => Promise<T>): Promise<T> {
      if (state === 'open') return Promise.reject(new CircuitOpenError(name));
      return call().then(
        (value) => {
          failures = 0;
          return value;
        },
        (error: unknown) => {
          failed(error);
          throw error;
        },
      );
    },
    /** Called each time the circuit opens. */
    onOpen(listener: () => void) {
      onOpen.push(listener);
    },
    /** Called each time the circuit closes again. */
    onClose(listener: () => void) {
      onClose.push(listener);
    },
    /** Stops probing (at shutdown). */
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
