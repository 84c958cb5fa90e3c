import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

/** The shared Redis the Redis tests run against (.ci/run sets it when 127.0.0.1:6379 answers). */
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL;

/** `skip` option for Redis suites: false when Redis is there, else the reason. */
export const skipWithoutRedis: false | string = TEST_REDIS_URL
  ? false
  : 'TEST_REDIS_URL is not set: Redis tests need a real Redis (e.g. redis://127.0.0.1:6379)';

export const skipWithoutRedisServer: false | string =
  spawnSync('redis-server', ['--version']).status === 0
    ? false
    : 'redis-server is not installed: the outage tests start and stop their own Redis';

/** A key prefix unique to this run, so parallel runs and other developers never share keys. */
export function uniqueKeyPrefix(): string {
  return `markets-test:${process.pid}:${randomBytes(4).toString('hex')}:`;
}

/** Deletes every key under the prefix. */
export async function deleteKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true });
  await redis.connect();
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/** A private redis-server child process that a test may stop and start again (same port, same data dir). */
export interface OwnRedis {
  url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** SIGSTOP: the port still accepts connections and nothing answers (a hung Redis, not a down one). */
  freeze(): void;
  /** SIGCONT after freeze(). */
  thaw(): void;
  /** Stops it for good and removes its directory. */
  dispose(): Promise<void>;
}

export async function ownRedisServer(): Promise<OwnRedis> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  // Its own directory: a SAVE before stop() comes back at the next start(), like a real restart.
  const dir = await mkdtemp(join(tmpdir(), 'markets-redis-'));
  let child: ChildProcess | undefined;
  const self: OwnRedis = {
    url,
    async start() {
      child = spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--save',
          '',
          '--appendonly',
          'no',
          '--dir',
          dir,
          '--daemonize',
          'no',
        ],
        { stdio: 'ignore' },
      );
      for (let attempt = 0; ; attempt++) {
        const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null });
        probe.on('error', () => {}); // connect() rejects too; that is what we look at
        try {
          await probe.connect();
          await probe.ping();
          return;
        } catch (error) {
          if (attempt > 50) throw error;
          await new Promise((resolve) => setTimeout(resolve, 50));
        } finally {
          probe.disconnect();
        }
      }
    },
    freeze() {
      child?.kill('SIGSTOP');
    },
    thaw() {
      child?.kill('SIGCONT');
    },
    async stop() {
      if (!child || child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
      child = undefined;
    },
    async dispose() {
      await self.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  await self.start();
  return self;
}
