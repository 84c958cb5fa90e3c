import { z } from 'zod';
import { envSchema } from '../src/config/env.ts';
import { openDatabase } from '../src/db/database.ts';
import { createTokenService } from '../src/modules/auth/tokens.ts';
import { createUserRepository } from '../src/modules/users/users.repository.ts';
import { wholeNumberArg } from './lib/cli-args.ts';
import { startTopology } from './lib/cluster/topology.ts';
import { parseArgs } from './lib/script-database.ts';

/**
 * `npm run cluster -- [--instances 2] [--workers 1] [--no-replica] [--port 3000]`
 * The scaled-out deployment on one machine: HAProxy in front of N API processes, M worker
 * processes, a PostgreSQL primary with a streaming replica, and Redis, all in temp dirs on free
 * ports. Ctrl-C (or SIGTERM) stops all of it and removes the temp dirs.
 */
const args = z
  .strictObject({
    instances: wholeNumberArg(1, 16).default(2),
    workers: wholeNumberArg(0, 16).default(1),
    'no-replica': z.literal(true).optional(),
    port: wholeNumberArg(1, 65535).default(3000),
  })
  .safeParse(parseArgs(process.argv.slice(2)));
if (!args.success) {
  const issue = args.error.issues[0]!;
  console.error('usage: npm run cluster -- [--instances 2] [--workers 1] [--no-replica] [--port 3000]');
  console.error(`${issue.path.length ? `--${issue.path.join('.')}: ` : ''}${issue.message}`);
  process.exit(2);
}
const { instances, workers, port } = args.data;

// The service's own settings (RATE_LIMIT_PER_MINUTE=0, LOG_LEVEL…) pass through to every process;
// where the pieces are is the topology's to say.
const OWN = new Set([
  'DATABASE_URL',
  'DATABASE_READ_URL',
  'REDIS_URL',
  'PORT',
  'HOST',
  'WORKERS',
  'DATA_DIR',
]);
const passed = Object.fromEntries(
  Object.keys(envSchema.shape)
    .filter((key) => !OWN.has(key) && process.env[key] !== undefined)
    .map((key) => [key, process.env[key]!]),
);

const say = (line: string) => console.log(`[cluster] ${line}`);
// Only what an operator must see: warnings and errors, and each process's start.
const output = (name: string, line: string) => {
  const level = /"level":(\d+)/.exec(line)?.[1];
  if (level === undefined || Number(level) >= 40) console.log(`[${name}] ${line}`);
};

const topology = await startTopology({
  instances,
  workers,
  replica: !args.data['no-replica'],
  port,
  env: { ...passed, DOCS_ENABLED: passed.DOCS_ENABLED ?? 'true' },
  output,
  installBalancer: true,
  log: say,
}).catch((error: unknown) => {
  console.error(`[cluster] could not start: ${(error as Error).message}`);
  process.exit(1);
});

// An admin to try it with, signed with the topology's secret.
const database = await openDatabase({ url: topology.primary.url });
const admin = await createUserRepository(database.db, { signupGrantCents: 100_000 }).upsertByEmail(
  'admin@cluster.local',
  'Cluster admin',
  'admin',
);
await database.close();
const token = await createTokenService(topology.jwtSecret, 24 * 3600).sign({
  sub: admin.id,
  email: admin.email,
  role: admin.role,
});

say('running:');
const rows = [
  [topology.url, 'HAProxy: the one address clients use; health-checks /readyz, skips draining instances'],
  ...topology.apis.map((api) => [
    `127.0.0.1:${api.port}`,
    `${api.name} (pid ${api.pid}): API process, WORKERS=0`,
  ]),
  ...topology.workers.map((w) => [
    '',
    `${w.name} (pid ${w.pid}): job worker (search indexing, webhooks, closes)`,
  ]),
  [topology.primary.url, 'PostgreSQL primary: writes, money, jobs, the event log'],
  ...(topology.replica
    ? [[topology.replica.url, 'PostgreSQL streaming replica: lists, search, history (DATABASE_READ_URL)']]
    : []),
  [topology.redis.url, 'Redis: the shared cache and rate-limit counters'],
];
for (const [where, what] of rows) say(`  ${where!.padEnd(44)} ${what}`);
say(`admin token (24 h): ${token}`);
say(`try: curl -s ${topology.url}/readyz; curl -s '${topology.url}/api/markets?limit=5'`);
say(`rolling restart by hand: kill -TERM <pid of an API process>; it drains, the balancer moves on`);
say('Ctrl-C stops everything.');

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) process.exit(1); // a second Ctrl-C: the exit handler kills what is left
    stopping = true;
    say(`${signal}: stopping the balancer, the API and worker processes, Redis and PostgreSQL`);
    topology.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(`[cluster] stop failed: ${(error as Error).message}`);
        process.exit(1);
      },
    );
  });
}
