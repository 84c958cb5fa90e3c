import pino, { type DestinationStream, type Logger } from 'pino';

/** Keys whose values never reach a log line, at any depth of what is logged. */
const SECRET_KEYS = new Set([
  'authorization',
  'x-api-key',
  'cookie',
  'password',
  'token',
  'accessToken',
  'refreshToken',
  'secret',
]);
export const REDACTED = '[redacted]';
/** Deeper than this, objects are logged as they are (log lines are shallow; cycles end here). */
const MAX_DEPTH = 8;

/**
 * A copy of `value` with every secret key's value replaced by REDACTED, or `value` itself when it
 * holds none (the common case costs one walk and no allocation). The caller's object is never
 * changed. Errors stay errors, so pino's error serializer still sees a message and a stack.
 */
export function censorSecrets<T>(value: T, depth = 0): T {
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH) return value;
  if (Array.isArray(value)) {
    let items: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const censored = censorSecrets(value[i], depth + 1);
      if (censored === value[i]) continue;
      items ??= [...value];
      items[i] = censored;
    }
    return (items ?? value) as T;
  }
  const record = value as Record<string, unknown>;
  let copy: Record<string, unknown> | undefined;
  for (const key in record) {
    const field = record[key];
    const censored = SECRET_KEYS.has(key) ? REDACTED : censorSecrets(field, depth + 1);
    if (censored === field) continue;
    copy ??= shallowCopy(record);
    copy[key] = censored;
  }
  return (copy ?? value) as T;
}

function shallowCopy(record: Record<string, unknown>): Record<string, unknown> {
  const copy = Object.assign(Object.create(Object.getPrototypeOf(record)), record);
  if (record instanceof Error) Object.assign(copy, { message: record.message, stack: record.stack });
  return copy;
}

/**
 * stdout, written asynchronously: lines logged while a write is in flight go out together in the
 * next one, and whatever is pending is flushed when the process exits. Writes of at most 4 KiB
 * (sonic-boom measures the pending chunk's bytes again for every line: the default 16 KiB made
 * that the costliest part of a log line under load). If stdout stops draining, lines beyond
 * 16 MiB pending are dropped rather than held until memory runs out.
 */
const STDOUT = { dest: 1, sync: false, maxWrite: 4096, maxLength: 16 * 1024 * 1024 };

/**
 * The service's logger: JSON lines at `level`, secrets censored by key name in every object logged
 * (a walk of the object; pino's path-based `redact` re-parsed its paths for every field of every
 * line), written to `destination` or else to stdout as above. A child logger's bindings are
 * written as given (pino applies no formatter to them): bind ids, never credentials.
 */
export function createLogger(
  level: string,
  { name, destination }: { name?: string; destination?: DestinationStream } = {},
): Logger {
  return pino(
    { level, ...(name && { name }), formatters: { log: (object) => censorSecrets(object) } },
    destination ?? pino.destination(STDOUT),
  );
}
