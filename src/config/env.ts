import ipaddr from 'ipaddr.js';
import { z } from 'zod';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

const commaList = z.string().transform((s) =>
  s
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean),
);
const hostList = commaList.pipe(
  z
    .array(
      z
        .string()
        .max(253)
        .transform((h) => h.toLowerCase()),
    )
    .max(100),
);
const cidrList = commaList.pipe(
  z
    .array(z.string().refine((c) => ipaddr.isValidCIDR(c), 'must be CIDRs such as 10.0.0.0/8 or fd00::/8'))
    .max(100),
);
/**
 * A five-field cron expression (minute hour day-of-month month day-of-week), as pg-boss schedules
 * read it: pg-boss fires at most once a minute, so there is no seconds field.
 */
const cron = z
  .string()
  .trim()
  .regex(/^\S+( \S+){4}$/, 'must be a five-field cron expression such as "0 * * * *"');

/** Every environment variable the service reads, parsed once at start. Secrets have no defaults. */
export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().min(1).default('0.0.0.0'),
  PORT: int(0, 65535).default(3000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATA_DIR: z.string().min(1).default('./data'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must start with postgres:// or postgresql://')
    .optional(),
  DATABASE_POOL_SIZE: int(1, 500).default(10),
  DATABASE_STATEMENT_TIMEOUT_MS: int(100, 600_000).default(10_000),
  DATABASE_CONNECT_TIMEOUT_MS: int(100, 60_000).default(3_000),
  /**
   * Market lookups by id and slug, and every statement of a trade, quote or order placement, as
   * named prepared statements (planned once per connection).
   * false behind a pooler in transaction mode that does not track them (PgBouncer before 1.21).
   */
  DATABASE_PREPARED_STATEMENTS: bool.default(true),
  /**
   * Comma-separated streaming replicas of DATABASE_URL: reads that tolerate lag (lists, search,
   * price history, public profiles) go there; writes, transactions, money and auth stay on the primary.
   */
  DATABASE_READ_URL: z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((u) => u.trim())
        .filter(Boolean),
    )
    .pipe(
      z
        .array(
          z
            .string()
            .max(2000)
            .regex(/^postgres(ql)?:\/\//, 'must be postgres:// or postgresql:// URLs'),
        )
        .min(1)
        .max(16),
    )
    .optional(),
  /** A replica further behind the primary than this is skipped (its reads go to the primary). */
  DATABASE_READ_MAX_LAG_MS: int(100, 3_600_000).default(5_000),
  /** How often each instance probes each replica's state and replay position. */
  DATABASE_READ_PROBE_INTERVAL_MS: int(100, 60_000).default(1_000),
  /**
   * Budget of a write that moves money (trade, market create/delete, resolve, cancel): queue wait,
   * connection wait and statements. Past it: 503 with Retry-After, and nothing is committed.
   */
  WRITE_DEADLINE_MS: int(100, 600_000).default(5_000),
  JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  /** Lifetime of the access tokens that login, refresh and `npm run token` issue. */
  JWT_TTL_SECONDS: int(60, 60 * 60 * 24 * 30).default(900),
  REFRESH_TOKEN_TTL_SECONDS: int(300, 60 * 60 * 24 * 365).default(60 * 60 * 24 * 30),
  /** argon2id cost. The defaults are OWASP's minimum (19 MiB, 2 passes); tests lower them. */
  PASSWORD_HASH_MEMORY_KIB: int(64, 1024 * 1024).default(19_456),
  PASSWORD_HASH_ITERATIONS: int(1, 20).default(2),
  /** An external identity provider whose RS256/ES256 tokens are accepted beside our own. */
  JWT_JWKS_URL: z.url({ protocol: /^https?$/ }).optional(),
  JWT_ISSUER: z.string().min(1).max(500).optional(),
  JWT_AUDIENCE: z.string().min(1).max(500).optional(),
  /** The claim holding the provider's role (a dotted path such as `realm_access.roles` works). */
  JWT_ROLE_CLAIM: z.string().min(1).max(200).default('role'),
  /** After a key-set fetch, how long an unknown `kid` waits before it may trigger another fetch. */
  JWT_JWKS_COOLDOWN_MS: int(0, 600_000).default(30_000),
  BODY_LIMIT: int(1024, 100 * 1024 * 1024).default(1024 * 1024),
  /**
   * After SIGTERM, how long the server keeps answering (with /readyz failing) before it stops
   * accepting: long enough for a load balancer's health checks to take it out of rotation.
   */
  SHUTDOWN_DRAIN_MS: int(0, 300_000).default(5_000),
  /** Time to receive a whole request, headers and body (a slow sender gets a 408); 0 = no limit. */
  REQUEST_TIMEOUT_MS: int(0, 600_000).default(30_000),
  /** Time to receive a request's headers (slowloris); at most REQUEST_TIMEOUT_MS. */
  HEADERS_TIMEOUT_MS: int(1000, 600_000).default(10_000),
  /** A socket with no traffic either way for this long is closed; 0 = never. */
  CONNECTION_TIMEOUT_MS: int(0, 3_600_000).default(60_000),
  /** An idle keep-alive connection is closed after this; above a load balancer's idle timeout (often 60 s). */
  KEEP_ALIVE_TIMEOUT_MS: int(1000, 600_000).default(72_000),
  /** Requests one connection may carry before the server closes it; 0 = no limit. */
  MAX_REQUESTS_PER_SOCKET: int(0, 1_000_000).default(1000),
  SHUTDOWN_TIMEOUT_MS: int(0, 120_000).default(10_000),
  TRUST_PROXY: z.string().optional(),
  /** Serve /docs and /openapi.json; unset: on, except with NODE_ENV=production. */
  DOCS_ENABLED: bool.optional(),
  /** Comma-separated origins (`https://app.example.com`) browsers may call the API from; unset: none. */
  CORS_ORIGINS: z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((o) => o.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.url({ protocol: /^https?$/ }).transform((o) => new URL(o).origin)).max(100))
    .optional(),
  /** Set: /metrics wants `Authorization: Bearer <METRICS_TOKEN>`. Unset: public, except in production (not served). */
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').max(500).optional(),
  SIGNUP_GRANT: z.coerce.number().int().min(0).max(1_000_000_000).default(1000),
  /** Accounts one client address (IPv6: its /64) may register per 24 hours; 0 = no limit. */
  REGISTRATIONS_PER_IP_PER_DAY: int(0, 1_000_000).default(10),
  /** Of those, how many receive SIGNUP_GRANT (later ones start at 0); 0 = every one. */
  SIGNUP_GRANTS_PER_IP_PER_DAY: int(0, 1_000_000).default(3),
  DEFAULT_LIQUIDITY: z.coerce.number().positive().max(1_000_000).default(100),
  /** How long a trade's Idempotency-Key replays its first answer; older keys are pruned (IDEMPOTENCY_PRUNE_CRON). */
  IDEMPOTENCY_KEY_TTL_HOURS: int(1, 8760).default(24),
  /** When expired Idempotency-Keys are pruned: a pg-boss cron schedule (UTC), once per deployment. */
  IDEMPOTENCY_PRUNE_CRON: cron.default('0 * * * *'),
  /** Resting limit orders that may fill after one trade (the work a trade does for others is bounded). */
  ORDER_FILLS_PER_TRADE: int(1, 10_000).default(100),
  /** Open limit orders one user may have on one market. */
  ORDER_MAX_OPEN_PER_MARKET: int(1, 1_000).default(20),
  /** When limit orders past their expiresAt are expired (reservations returned): a pg-boss cron schedule. */
  ORDER_EXPIRY_CRON: cron.default('* * * * *'),
  /** When every user's portfolio is snapshotted (one row per user per UTC day): a pg-boss cron (UTC). */
  PORTFOLIO_SNAPSHOT_CRON: cron.default('5 0 * * *'),
  /** When the leaderboards are rebuilt from their aggregates: a pg-boss cron (UTC); reads never scan trades. */
  LEADERBOARD_REFRESH_CRON: cron.default('* * * * *'),
  /** Set: cache and rate-limit counters live in Redis, shared by every instance. Unset: in process. */
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must start with redis:// or rediss://')
    .optional(),
  /** Prefix of every key this service writes to Redis (one Redis can serve several deployments). */
  REDIS_KEY_PREFIX: z.string().min(1).max(100).default('markets-api:'),
  /** Per Redis command: past it the command fails and Redis's circuit opens (cache and limiter skip it). */
  REDIS_COMMAND_TIMEOUT_MS: int(50, 10_000).default(500),
  /** While Redis's circuit is open, a background PING every this often decides when to close it. */
  REDIS_CIRCUIT_COOL_DOWN_MS: int(100, 600_000).default(1000),
  /** Market rows by id/slug; 0 turns the market cache off. */
  CACHE_TTL_SECONDS: int(0, 86_400).default(300),
  /** First pages of GET /api/markets; short because "active" depends on the clock. 0 = not cached. */
  LIST_CACHE_TTL_SECONDS: int(0, 3600).default(10),
  /** With Redis: how often each instance applies the event log to the shared cache (missed invalidations). */
  CACHE_FOLLOW_INTERVAL_MS: int(100, 60_000).default(1000),
  // Event streams (Server-Sent Events) and the event log's retention.
  /** Events older than this are pruned (EVENT_PRUNE_CRON); a stream resuming from before them gets a `reset`. */
  EVENT_RETENTION_HOURS: int(1, 24 * 365 * 10).default(168),
  /** When events past the retention are pruned: a pg-boss cron schedule (UTC), once per deployment. */
  EVENT_PRUNE_CRON: cron.default('30 * * * *'),
  /** A `: ping` comment on every open stream this often; must be below CONNECTION_TIMEOUT_MS. */
  STREAM_HEARTBEAT_MS: int(100, 600_000).default(15_000),
  /** Streams read the log at least this often, besides the wake-up each commit sends (LISTEN/NOTIFY). */
  STREAM_POLL_INTERVAL_MS: int(50, 60_000).default(1000),
  /** A subscriber whose unsent backlog passes this many bytes is cut off (`end`, reason `slow-consumer`). */
  STREAM_MAX_BUFFER_BYTES: int(1024, 64 * 1024 * 1024).default(1024 * 1024),
  /** Open streams per client (signed-in user, else IP) on one instance; past it 429. 0 = no limit. */
  STREAMS_PER_CLIENT: int(0, 100_000).default(10),
  /** The reconnection delay (`retry:`) streams advise their clients, e.g. when they end on SIGTERM. */
  STREAM_RETRY_MS: int(0, 600_000).default(1000),
  /** Requests per minute per client (user, else IP) on every route; 0 = no limit. */
  RATE_LIMIT_PER_MINUTE: int(0, 1_000_000_000).default(100),
  /** Login attempts per minute, per IP and per email; 0 = no limit. */
  LOGIN_RATE_LIMIT_PER_MINUTE: int(0, 1_000_000).default(10),
  /** Trades per minute per user; 0 = no stricter limit than RATE_LIMIT_PER_MINUTE. */
  TRADE_RATE_LIMIT_PER_MINUTE: int(0, 1_000_000).default(30),
  /** New comments per minute per user; 0 = only the general limit. */
  COMMENT_RATE_LIMIT_PER_MINUTE: int(0, 1_000_000).default(10),
  /** Clients each in-memory limiter tracks at once; when full, new clients wait for a window to end. */
  RATE_LIMIT_MAX_CLIENTS: int(100, 10_000_000).default(50_000),
  // Background jobs (pg-boss on the same database).
  WORKERS: bool.default(true),
  /** How often a process that runs workers looks for markets whose close time passed (market.closed events). */
  MARKET_CLOSE_INTERVAL_MS: int(100, 3_600_000).default(1000),
  WORKER_CONCURRENCY: int(1, 64).default(2),
  WORKER_POLL_INTERVAL_MS: int(500, 60_000).default(2000),
  JOB_RETRY_LIMIT: int(0, 20).default(5),
  JOB_RETRY_DELAY_SECONDS: int(1, 3600).default(2),
  JOB_RETRY_DELAY_MAX_SECONDS: int(1, 86_400).default(600),
  /**
   * A running job's worker refreshes it every half of this; one not refreshed for this long (its
   * process was killed or hung) is failed and retried by another worker. pg-boss wants ≥ 10.
   */
  JOB_HEARTBEAT_SECONDS: int(10, 3600).default(30),
  /** How often each process with a job queue looks for jobs whose heartbeat stopped (and expired ones). */
  JOB_SUPERVISE_INTERVAL_SECONDS: int(1, 3600).default(10),
  // Webhooks (src/modules/webhooks).
  /** Hosts (comma-separated names or IPs) a webhook may reach over plain http; every other URL must be https. */
  WEBHOOK_HTTP_HOSTS: hostList.default([]),
  /**
   * Networks (comma-separated CIDRs, e.g. `10.1.0.0/16,127.0.0.1/32`) a webhook may reach although
   * they are loopback, private, link-local or otherwise non-public. Unset: only public unicast addresses.
   */
  WEBHOOK_ALLOWED_NETWORKS: cidrList.default([]),
  /** Per delivery: connect, send, and the receiver's status line; past it the attempt failed (retried). */
  WEBHOOK_TIMEOUT_MS: int(100, 120_000).default(10_000),
  /** Bytes of a receiver's answer read (for the delivery log); the connection is closed past them. */
  WEBHOOK_MAX_RESPONSE_BYTES: int(0, 1024 * 1024).default(16 * 1024),
  /** Retries of one delivery after its first attempt; then it is dead-lettered and the next event goes. */
  WEBHOOK_RETRY_LIMIT: int(0, 50).default(8),
  /** First retry delay; doubles per attempt with jitter, up to WEBHOOK_RETRY_DELAY_MAX_MS. */
  WEBHOOK_RETRY_DELAY_MS: int(100, 3_600_000).default(10_000),
  WEBHOOK_RETRY_DELAY_MAX_MS: int(100, 86_400_000).default(3_600_000),
  /** A subscription whose deliveries have failed without a success for this long is disabled. */
  WEBHOOK_DISABLE_AFTER_SECONDS: int(1, 30 * 86_400).default(86_400),
  /** How often the dispatcher looks for subscriptions behind the event log. */
  WEBHOOK_DISPATCH_INTERVAL_MS: int(50, 60_000).default(1000),
  /** Subscriptions this process delivers to at once (each one's events go in order, one at a time). */
  WEBHOOK_CONCURRENCY: int(1, 256).default(8),
  // Embeddings for semantic search.
  EMBEDDINGS_PROVIDER: z.enum(['local', 'openai']).default('local'),
  EMBEDDINGS_URL: z.url().default('https://api.openai.com/v1/embeddings'),
  EMBEDDINGS_API_KEY: z.string().min(1).optional(),
  EMBEDDINGS_MODEL: z.string().min(1).max(200).default('text-embedding-3-small'),
  EMBEDDING_DIMENSIONS: int(8, 2000).default(384),
  EMBEDDINGS_TIMEOUT_MS: int(100, 120_000).default(10_000),
  EMBEDDINGS_MAX_RETRIES: int(0, 10).default(3),
  EMBEDDINGS_BATCH_SIZE: int(1, 2048).default(64),
  /** While the provider's circuit is open (searches run on full text), probe it this often. */
  EMBEDDINGS_CIRCUIT_COOL_DOWN_MS: int(100, 600_000).default(5000),
  /** Search questions whose embedding is remembered (LRU); 0: every search calls the provider. */
  SEARCH_QUERY_EMBEDDING_CACHE_SIZE: int(0, 100_000).default(1000),
  /** Full-text matches ranked per search, at most (the first the GIN index yields). */
  SEARCH_FULLTEXT_POOL: int(10, 100_000).default(200),
  /** pgvector hnsw.ef_search: higher finds more of the true nearest neighbours, slower. */
  SEARCH_HNSW_EF_SEARCH: int(10, 1000).default(200),
});

export type Config = Omit<z.infer<typeof envSchema>, 'DOCS_ENABLED'> & { DOCS_ENABLED: boolean };

/** Parses the environment; a bad value throws one line naming the variable and the problem. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = envSchema.safeParse(present);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new ConfigError(`Invalid configuration: ${issue.path.join('.')} ${issue.message}`);
  }
  const { REQUEST_TIMEOUT_MS, HEADERS_TIMEOUT_MS } = result.data;
  // Node refuses a headers timeout longer than the whole request's.
  if (REQUEST_TIMEOUT_MS > 0 && HEADERS_TIMEOUT_MS > REQUEST_TIMEOUT_MS) {
    throw new ConfigError('Invalid configuration: HEADERS_TIMEOUT_MS must not exceed REQUEST_TIMEOUT_MS');
  }
  const { STREAM_HEARTBEAT_MS, CONNECTION_TIMEOUT_MS } = result.data;
  // A stream is silent between events: without a ping before it, the server closes the socket.
  if (CONNECTION_TIMEOUT_MS > 0 && STREAM_HEARTBEAT_MS >= CONNECTION_TIMEOUT_MS) {
    throw new ConfigError('Invalid configuration: STREAM_HEARTBEAT_MS must be below CONNECTION_TIMEOUT_MS');
  }
  if (result.data.NODE_ENV === 'production' && !result.data.JWT_SECRET) {
    throw new ConfigError('Invalid configuration: JWT_SECRET is required when NODE_ENV=production');
  }
  if (result.data.DATABASE_READ_URL && !result.data.DATABASE_URL) {
    throw new ConfigError('Invalid configuration: DATABASE_READ_URL needs DATABASE_URL (the primary)');
  }
  const { JWT_JWKS_URL, JWT_ISSUER, JWT_AUDIENCE } = result.data;
  // Without both checks any token that provider signs, for any application, would be accepted.
  if (JWT_JWKS_URL && (!JWT_ISSUER || !JWT_AUDIENCE)) {
    throw new ConfigError('Invalid configuration: JWT_JWKS_URL needs JWT_ISSUER and JWT_AUDIENCE');
  }
  if (result.data.EMBEDDINGS_PROVIDER === 'openai' && !result.data.EMBEDDINGS_API_KEY) {
    throw new ConfigError(
      'Invalid configuration: EMBEDDINGS_API_KEY is required when EMBEDDINGS_PROVIDER=openai',
    );
  }
  return { ...result.data, DOCS_ENABLED: result.data.DOCS_ENABLED ?? result.data.NODE_ENV !== 'production' };
}

export class ConfigError extends Error {}

/** A config for tests and scripts: defaults with overrides, no environment read. */
export function configWith(overrides: Partial<Record<keyof Config, string>>): Config {
  return loadConfig(overrides);
}
