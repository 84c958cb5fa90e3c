import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { openDatabase } from '../../../src/db/database.ts';
import { migrate } from '../../../src/db/migrate.ts';
import {
  type Balancer,
  type BalancerTimings,
  DEFAULT_TIMINGS,
  ensureHaproxy,
  startHaproxy,
} from './haproxy.ts';
import { type Env, type NodeProcess, nodeProcess, type OutputSink } from './node-process.ts';
import { freePort } from './ports.ts';
import { type OwnPostgres, ownPostgresServer, ownStandbyServer } from './postgres.ts';
import { type OwnRedis, ownRedisServer } from './redis.ts';

export interface TopologyOptions {
  /** API processes behind the balancer. */
  instances: number;
  /** Worker processes (`src/worker.ts`); the API processes run none (WORKERS=0). */
  workers: number;
  /** A streaming replica of the primary, for the API's lag-tolerant reads (DATABASE_READ_URL). */
  replica: boolean;
  /** Port of the balancer; a free one when unset. */
  port?: number;
  /** Settings for every API and worker process, over the topology's own. */
  env?: Env;
  /** Settings for the worker processes only. */
  workerEnv?: Env;
  /** Each line the API and worker processes write, with the process's name. */
  output?: OutputSink;
  /** Installs HAProxy from Debian's packages when it is missing (the cluster script does). */
  installBalancer?: boolean;
  timings?: BalancerTimings;
  /** What the topology does, step by step. */
  log?: (line: string) => void;
}

/** Everything `npm run cluster` runs on one machine, each piece stoppable on its own. */
export interface Topology {
  /** The balancer's address: the one URL clients use. */
  url: string;
  primary: OwnPostgres;
  replica: OwnPostgres | undefined;
  redis: OwnRedis;
  balancer: Balancer;
  apis: NodeProcess[];
  workers: NodeProcess[];
  jwtSecret: string;
  /** The environment the API processes run with (without PORT). */
  apiEnv: Env;
  /** SIGTERM to one API process, wait for its exit, start it again, wait until the balancer sends to it. */
  restartApi(index: number): Promise<{ exitCode: number | null }>;
  /** Resolves once the balancer's health checks see `name` in `state` (`UP`, `DOWN`). */
  waitForServer(name: string, state: string, timeoutMs?: number): Promise<void>;
  /** Stops everything, the balancer first and PostgreSQL last, and removes the temp dirs. */
  stop(): Promise<void>;
}

/**
 * Starts the topology: PostgreSQL primary (+ a streaming replica made with pg_basebackup), Redis,
 * N API processes, M worker processes, and HAProxy in front of the API processes. Everything is
 * on free ports in temp dirs and stopped by pid; if the process exits before stop() (a failed
 * test, Ctrl-C twice) what is left is killed synchronously.
 */
export async function startTopology(options: TopologyOptions): Promise<Topology> {
  const log = options.log ?? (() => {});
  const timings = options.timings ?? DEFAULT_TIMINGS;
  ensureHaproxy(options.installBalancer ?? false, log);
  const started: { primary?: OwnPostgres; replica?: OwnPostgres; redis?: OwnRedis; balancer?: Balancer } = {};
  const processes: NodeProcess[] = [];
  const killNow = () => {
    started.balancer?.stopNow();
    for (const p of processes) if (p.pid) process.kill(p.pid, 'SIGKILL');
    if (started.redis?.pid) process.kill(started.redis.pid, 'SIGKILL');
    started.replica?.disposeNow();
    started.primary?.disposeNow();
  };
  process.on('exit', killNow);

  const stopAll = async () => {
    await started.balancer?.stop();
    await Promise.all(processes.map((p) => p.stop('SIGTERM')));
    await started.redis?.dispose();
    await started.replica?.dispose();
    await started.primary?.dispose();
    process.off('exit', killNow);
  };

  try {
    log('PostgreSQL primary: initdb into a temp dir');
    const primary = await ownPostgresServer();
    started.primary = primary;
    // Migrated once here, so that N processes starting together find the schema in place.
    const migrating = await openDatabase({ url: primary.url });
    await migrate(migrating);
    await migrating.close();
    log(`PostgreSQL primary on ${primary.url}`);
    if (options.replica) {
      started.replica = await ownStandbyServer(primary);
      log(`PostgreSQL streaming replica (pg_basebackup -R) on ${started.replica.url}`);
    }
    const redis = await ownRedisServer();
    started.redis = redis;
    log(`Redis on ${redis.url}`);

    const jwtSecret = options.env?.JWT_SECRET ?? randomBytes(32).toString('base64url');
    const apiEnv: Env = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? tmpdir(),
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      JWT_SECRET: jwtSecret,
      DATABASE_URL: primary.url,
      ...(started.replica && { DATABASE_READ_URL: started.replica.url }),
      DATABASE_POOL_SIZE: '5',
      REDIS_URL: redis.url,
      WORKERS: '0',
      // The balancer is the only client: the rate limiter keys on the address it forwards.
      TRUST_PROXY: '127.0.0.1',
      // Long enough for the health checks to take a draining instance out of rotation, with room
      // for checks that take their time on a loaded machine.
      SHUTDOWN_DRAIN_MS: String(timings.checkIntervalMs * (timings.fall + 2) + 2000),
      ...options.env,
    };
    const apis = await Promise.all(
      Array.from({ length: options.instances }, async (_, i) =>
        nodeProcess({
          name: `api${i + 1}`,
          kind: 'api',
          env: apiEnv,
          port: await freePort(),
          output: options.output,
        }),
      ),
    );
    const workers = Array.from({ length: options.workers }, (_, i) =>
      nodeProcess({
        name: `worker${i + 1}`,
        kind: 'worker',
        env: { ...apiEnv, WORKERS: '1', ...options.workerEnv },
        output: options.output,
      }),
    );
    processes.push(...apis, ...workers);
    await Promise.all(processes.map((p) => p.start()));
    log(`${apis.length} API processes (${apis.map((a) => a.port).join(', ')}), ${workers.length} workers`);

    const balancer = await startHaproxy({
      port: options.port ?? (await freePort()),
      servers: apis.map((api) => ({ name: api.name, port: api.port! })),
      timings,
    });
    started.balancer = balancer;

    const waitForServer = async (name: string, state: string, timeoutMs = 20_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const states = await balancer.serverStates();
        if (states[name] === state) return;
        if (Date.now() > deadline)
          throw new Error(`${name} is ${states[name]} at the balancer, not ${state}, after ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    for (const api of apis) await waitForServer(api.name, 'UP');
    log(`HAProxy on ${balancer.url}: every API process UP`);

    return {
      url: balancer.url,
      primary,
      replica: started.replica,
      redis,
      balancer,
      apis,
      workers,
      jwtSecret,
      apiEnv,
      waitForServer,
      async restartApi(index) {
        const api = apis[index]!;
        const exitCode = await api.stop('SIGTERM');
        await api.start();
        await waitForServer(api.name, 'UP');
        return { exitCode };
      },
      stop: stopAll,
    };
  } catch (error) {
    await stopAll().catch(() => {});
    throw error;
  }
}
