import type { CircuitBreaker } from '../circuit-breaker.ts';
import type { Cache } from './cache.ts';

/**
 * A cache whose every call goes through `breaker`: while it is open each call rejects at once, so
 * cache-aside serves from the database without waiting out a command timeout per call. A hung
 * Redis never drops its connection, so it never sends `close` or a new `ready`: the circuit
 * opening counts as "lost" (the store may have missed deletes meanwhile) and its closing as "ready
 * again", which lets the event-log follower catch up before the cache is trusted again.
 */
export function withCircuitBreaker(
  cache: Cache,
  breaker: Pick<CircuitBreaker, 'run' | 'onOpen' | 'onClose'>,
): Cache {
  return {
    kind: cache.kind,
    get: (key) => breaker.run(() => cache.get(key)),
    set: (key, value, ttlSeconds) => breaker.run(() => cache.set(key, value, ttlSeconds)),
    delete: (keys) => breaker.run(() => cache.delete(keys)),
    lease: (key) => breaker.run(() => cache.lease(key)),
    fill: (key, token, value, ttlSeconds) => breaker.run(() => cache.fill(key, token, value, ttlSeconds)),
    raiseTo: (key, value) => breaker.run(() => cache.raiseTo(key, value)),
    clear: () => breaker.run(() => cache.clear()),
    ping: () => breaker.run(() => cache.ping()),
    onReady(listener) {
      cache.onReady(listener);
      breaker.onClose(listener);
    },
    onLost(listener) {
      cache.onLost(listener);
      breaker.onOpen(listener);
    },
  };
}
