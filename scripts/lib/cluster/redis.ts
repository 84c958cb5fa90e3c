import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './ports.ts';

/** A private redis-server child process that a test may stop and start again (same port, same data dir). */
export interface OwnRedis {
  url: string;
  /** The redis-server's pid while it runs. */
  readonly pid: number | undefined;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** SIGSTOP: the port still accepts connections and nothing answers (a hung Redis, not a down one). */
  freeze(): void;
  /** SIGCONT after freeze(). */
  thaw(): void;
  /** SAVE: the next start() comes back with the data of this moment, as from a snapshot. */
  save(): Promise<void>;
  /** Runs `use` with a client of its own that never reconnects, disconnected after, whatever happens. */
  withClient<T>(use: (client: Redis) => Promise<T>): Promise<T>;
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
    get pid() {
      return child?.exitCode === null ? child.pid : undefined;
    },
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
        try {
          await self.withClient((probe) => probe.ping());
          return;
        } catch (error) {
          if (attempt > 50) throw error;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    },
    async withClient(use) {
      // No retries: a client left connecting to a stopped server would keep the process alive.
      const client = new Redis(url, {
        lazyConnect: true,
        retryStrategy: () => null,
        maxRetriesPerRequest: 1,
      });
      client.on('error', () => {}); // the command's rejection is what the caller sees
      try {
        await client.connect();
        return await use(client);
      } finally {
        client.disconnect();
      }
    },
    async save() {
      await self.withClient((client) => client.save());
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
