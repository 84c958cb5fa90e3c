import { z } from 'zod';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

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
  JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  JWT_TTL_SECONDS: int(60, 60 * 60 * 24 * 30).default(3600),
  BODY_LIMIT: int(1024, 100 * 1024 * 1024).default(1024 * 1024),
  SHUTDOWN_TIMEOUT_MS: int(0, 120_000).default(10_000),
  TRUST_PROXY: z.string().optional(),
  DOCS_ENABLED: bool.default(true),
  // Background jobs (pg-boss on the same database).
  WORKERS: bool.default(true),
  WORKER_CONCURRENCY: int(1, 64).default(2),
  WORKER_POLL_INTERVAL_MS: int(500, 60_000).default(2000),
  JOB_RETRY_LIMIT: int(0, 20).default(5),
  JOB_RETRY_DELAY_SECONDS: int(1, 3600).default(2),
  JOB_RETRY_DELAY_MAX_SECONDS: int(1, 86_400).default(600),
  // Embeddings for semantic search.
  EMBEDDINGS_PROVIDER: z.enum(['local', 'openai']).default('local'),
  EMBEDDINGS_URL: z.url().default('https://api.openai.com/v1/embeddings'),
  EMBEDDINGS_API_KEY: z.string().min(1).optional(),
  EMBEDDINGS_MODEL: z.string().min(1).max(200).default('text-embedding-3-small'),
  EMBEDDING_DIMENSIONS: int(8, 2000).default(384),
  EMBEDDINGS_TIMEOUT_MS: int(100, 120_000).default(10_000),
  EMBEDDINGS_MAX_RETRIES: int(0, 10).default(3),
  EMBEDDINGS_BATCH_SIZE: int(1, 2048).default(64),
});

export type Config = z.infer<typeof envSchema>;

/** Parses the environment; a bad value throws one line naming the variable and the problem. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = envSchema.safeParse(present);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new ConfigError(`Invalid configuration: ${issue.path.join('.')} ${issue.message}`);
  }
  if (result.data.NODE_ENV === 'production' && !result.data.JWT_SECRET) {
    throw new ConfigError('Invalid configuration: JWT_SECRET is required when NODE_ENV=production');
  }
  if (result.data.EMBEDDINGS_PROVIDER === 'openai' && !result.data.EMBEDDINGS_API_KEY) {
    throw new ConfigError(
      'Invalid configuration: EMBEDDINGS_API_KEY is required when EMBEDDINGS_PROVIDER=openai',
    );
  }
  return result.data;
}

export class ConfigError extends Error {}

/** A config for tests and scripts: defaults with overrides, no environment read. */
export function configWith(overrides: Partial<Record<keyof Config, string>>): Config {
  return loadConfig(overrides);
}
