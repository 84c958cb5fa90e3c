import { sql } from 'kysely';
import { type Balancer, startHaproxy } from '../../scripts/lib/cluster/haproxy.ts';
import { freePort } from '../../scripts/lib/cluster/ports.ts';
import { startTopology, type Topology } from '../../scripts/lib/cluster/topology.ts';
import { seedSampleData } from '../../scripts/lib/seed-database.ts';
import { openDatabase } from '../../src/db/database.ts';
import { type RecordedResponse, recordResponse, startBareServer } from '../lib/bare-ceiling.ts';
import { createBenchMarkets, createBenchUsers, ledgerDifference } from '../lib/bench-users.ts';
import { type LoadOptions, type LoadResult, runLoad } from '../lib/load.ts';
import { markdownTable } from '../lib/markdown-table.ts';
import { cpuMs, treeCpuMs } from '../lib/proc-stats.ts';
import type { RunningServer } from '../lib/processes.ts';
import type { BenchContext, BenchFigure, BenchSection } from '../lib/section.ts';

const INSTANCES = [1, 2, 3] as const;
/** Markets in the topology's own primary: enough for list pages that read an index, quick to seed. */
const MARKETS = 10_000;
const TRADERS = 50;
const TRADE_MARKETS = 100;
/** Lag-tolerant reads, which go to the replica when there is one; every one a miss (caches off). */
const LIST_PATHS = [
  '/api/markets?status=active&sort=volume&limit=20',
  '/api/markets?status=active&sort=createdAt&order=asc&limit=20',
];
const APP_ENV = {
  LOG_LEVEL: 'info',
  RATE_LIMIT_PER_MINUTE: '0',
  TRADE_RATE_LIMIT_PER_MINUTE: '0',
  MAX_REQUESTS_PER_SOCKET: '0',
  CACHE_TTL_SECONDS: '0',
  LIST_CACHE_TTL_SECONDS: '0',
  DATABASE_POOL_SIZE: '10',
};

/** CPU ms each component used over one pass, per request. */
interface CpuShare {
  api: number;
  primary: number;
  replica: number;
  redis: number;
  balancer: number;
}

interface Pass {
  label: string;
  instances: number;
  load: LoadResult;
  cpu?: CpuShare;
}

/** A balancer of its own in front of the first `n` servers (each pass sees only those). */
const balancerFor = async (ports: number[]) =>
  startHaproxy({
    port: await freePort(),
    servers: ports.map((port, i) => ({ name: `s${i + 1}`, port })),
  });

async function waitUp(balancer: Balancer, count: number) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const states = Object.values(await balancer.serverStates());
    if (states.filter((s) => s === 'UP').length === count) return;
    if (Date.now() > deadline) throw new Error(`balancer: servers not UP (${states.join(', ')})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The CPU of every process of the topology (and the pass's balancer), read before and after `run`. */
async function withCpu<T extends { requests: number }>(
  topology: Topology,
  apiCount: number,
  balancer: Balancer,
  run: () => Promise<T>,
): Promise<{ result: T; cpu: CpuShare }> {
  const read = async () => ({
    api: (await Promise.all(topology.apis.slice(0, apiCount).map((a) => (a.pid ? cpuMs(a.pid) : 0)))).reduce(
      (x, y) => x + y,
      0,
    ),
    primary: topology.primary.pid ? await treeCpuMs(topology.primary.pid) : 0,
    replica: topology.replica?.pid ? await treeCpuMs(topology.replica.pid) : 0,
    redis: topology.redis.pid ? await cpuMs(topology.redis.pid) : 0,
    balancer: balancer.pid ? await cpuMs(balancer.pid) : 0,
  });
  const before = await read();
  const result = await run();
  const after = await read();
  const per = (key: keyof CpuShare) =>
    result.requests ? Math.round(((after[key] - before[key]) / result.requests) * 1000) / 1000 : 0;
  return {
    result,
    cpu: {
      api: per('api'),
      primary: per('primary'),
      replica: per('replica'),
      redis: per('redis'),
      balancer: per('balancer'),
    },
  };
}

async function startCluster(context: BenchContext, replica: boolean): Promise<Topology> {
  context.log(
    `starting ${INSTANCES.at(-1)} API processes, ${replica ? 'a primary and a replica' : 'a primary'}`,
  );
  const topology = await startTopology({
    instances: INSTANCES.at(-1)!,
    workers: 0,
    replica,
    env: { ...APP_ENV, JWT_SECRET: context.jwtSecret },
    log: (line) => context.log(`  ${line}`),
  });
  const database = await openDatabase({ url: topology.primary.url, statementTimeoutMs: 300_000 });
  try {
    await seedSampleData(database.db, { markets: MARKETS, users: 40, seed: 1 });
  } finally {
    await database.close();
  }
  if (topology.replica) {
    // The passes read lists from the replica: wait until it has replayed the seed.
    const standby = await openDatabase({ url: topology.replica.url });
    try {
      for (const deadline = Date.now() + 60_000; ; ) {
        const { rows } = await sql<{ n: string }>`select count(*) as n from markets`.execute(standby.db);
        if (Number(rows[0]!.n) >= MARKETS) break;
        if (Date.now() > deadline) throw new Error('the replica did not replay the seed within 60 s');
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    } finally {
      await standby.close();
    }
  }
  return topology;
}

/**
 * Scale-out on one machine (issue 17): read req/s through HAProxy in front of 1, 2 and 3 API
 * processes, on a primary alone and with a streaming replica serving the lists, beside the same
 * balancer in front of 1, 2 and 3 bare node:http servers sending the same response; then trades
 * through 3 instances. Each pass reads the CPU time of every process (the API processes, each
 * PostgreSQL server with its backends, Redis, the balancer), so the table says where a request's
 * time goes. On two cores the load generator, the balancer, the API processes and PostgreSQL
 * share the same cores: more processes show the cost of each hop, not linear scaling; the core
 * estimate below extrapolates from the per-request CPU instead.
 */
export const scaleSection: BenchSection = {
  title: 'Scale-out: API processes behind HAProxy, with and without a read replica',
  async run(context) {
    const passes: Pass[] = [];
    type PassOptions = Omit<LoadOptions, 'connections' | 'durationSeconds'>;
    const warmUp = async (options: PassOptions) => {
      if (context.warmupSeconds > 0)
        await runLoad({
          ...options,
          connections: context.connections,
          durationSeconds: context.warmupSeconds,
        });
    };
    /** One measured pass (after `warmUp`, which is not counted in its CPU). */
    const measure = async (label: string, options: PassOptions) => {
      context.log(`measuring ${label}`);
      const result = await runLoad({
        ...options,
        connections: context.connections,
        durationSeconds: context.durationSeconds,
      });
      context.log(`  ${result.reqPerSec} req/s, p99 ${result.p99} ms, ${result.errors} errors`);
      return result;
    };

    let listResponse: RecordedResponse | undefined;
    let tradeCpu: CpuShare | undefined;
    let trades: LoadResult | undefined;
    let difference: number | undefined;
    for (const replica of [false, true]) {
      const topology = await startCluster(context, replica);
      try {
        listResponse ??= await recordResponse(`${topology.url}${LIST_PATHS[0]}`);
        for (const n of INSTANCES) {
          const balancer = await balancerFor(topology.apis.slice(0, n).map((api) => api.port!));
          try {
            await waitUp(balancer, n);
            const label = `${n} API ${n === 1 ? 'process' : 'processes'}, ${replica ? 'lists from the replica' : 'primary only'}`;
            const options = { url: balancer.url, paths: LIST_PATHS };
            await warmUp(options);
            const { result, cpu } = await withCpu(topology, n, balancer, () => measure(label, options));
            passes.push({ label, instances: n, load: result, cpu });
          } finally {
            await balancer.stop();
          }
        }
        if (replica) {
          const primary = await openDatabase({ url: topology.primary.url });
          const users = await createBenchUsers(primary.db, context.jwtSecret, {
            traders: TRADERS,
            label: 'scale',
          }).finally(() => primary.close());
          context.log(`creating ${TRADE_MARKETS} markets`);
          const marketIds = await createBenchMarkets(topology.url, users.adminAuth, {
            count: TRADE_MARKETS,
            label: 'scale',
            liquidity: 500,
          });
          const balancer = await balancerFor(topology.apis.map((api) => api.port!));
          try {
            await waitUp(balancer, topology.apis.length);
            const options: PassOptions = {
              url: balancer.url,
              request: (i) => ({
                method: 'POST',
                path: `/api/markets/${marketIds[i % TRADE_MARKETS]}/trades`,
                headers: {
                  authorization: users.traderAuths[i % TRADERS]!,
                  'content-type': 'application/json',
                },
                body: JSON.stringify({
                  outcome: i % 3 === 0 ? 'NO' : 'YES',
                  side: 'buy',
                  amount: 1 + (i % 4),
                }),
              }),
            };
            await warmUp(options);
            const measured = await withCpu(topology, topology.apis.length, balancer, () =>
              measure(
                `trades over ${TRADE_MARKETS} markets through ${topology.apis.length} API processes`,
                options,
              ),
            );
            trades = measured.result;
            tradeCpu = measured.cpu;
          } finally {
            await balancer.stop();
          }
          difference = await ledgerDifference(topology.url, users.adminAuth);
        }
      } finally {
        await topology.stop();
      }
    }

    const bare: RunningServer[] = [];
    const bareLoads = new Map<number, LoadResult>();
    try {
      for (const n of INSTANCES)
        bare.push(await startBareServer(context.tmpDir, `scale-list-${n}`, listResponse!));
      for (const n of INSTANCES) {
        const balancer = await balancerFor(bare.slice(0, n).map((s) => Number(new URL(s.url).port)));
        try {
          await waitUp(balancer, n);
          await warmUp({ url: balancer.url });
          bareLoads.set(n, await measure(`balancer in front of ${n} bare node:http`, { url: balancer.url }));
        } finally {
          await balancer.stop();
        }
      }
    } finally {
      await Promise.all(bare.map((s) => s.stop()));
    }

    const ratio = (pass: Pass) => pass.load.reqPerSec / bareLoads.get(pass.instances)!.reqPerSec;
    const pct = (x: number) => `${Math.round(x * 100)} %`;
    const cpuCells = (c: CpuShare | undefined) =>
      c ? [c.api, c.primary, c.replica || '—', c.redis, c.balancer] : ['—', '—', '—', '—', '—'];
    const rows = [
      ...INSTANCES.map((n) => {
        const r = bareLoads.get(n)!;
        return [
          `balancer + ${n} bare node:http`,
          r.reqPerSec,
          r.p50,
          r.p99,
          r.errors,
          '—',
          ...cpuCells(undefined),
        ];
      }),
      ...passes.map((p) => [
        p.label,
        p.load.reqPerSec,
        p.load.p50,
        p.load.p99,
        p.load.errors,
        pct(ratio(p)),
        ...cpuCells(p.cpu),
      ]),
      [
        `trades, ${TRADE_MARKETS} markets, 3 API processes + replica`,
        trades!.reqPerSec,
        trades!.p50,
        trades!.p99,
        trades!.errors,
        '—',
        ...cpuCells(tradeCpu),
      ],
    ];

    // On paper: cores = rate × CPU ms per request / 1000, from the three-process passes.
    const read = passes.at(-1)!.cpu!;
    const cores = (rate: number, ms: number) => ((rate * ms) / 1000).toFixed(1);
    const estimate = markdownTable(
      [
        'component',
        'CPU ms per read',
        'CPU ms per trade',
        'cores for 10,000 reads/s',
        'cores for 1,000 trades/s',
      ],
      [
        ['API processes', read.api, tradeCpu!.api, cores(10_000, read.api), cores(1000, tradeCpu!.api)],
        [
          'PostgreSQL (primary + replicas)',
          Math.round((read.primary + read.replica) * 1000) / 1000,
          Math.round((tradeCpu!.primary + tradeCpu!.replica) * 1000) / 1000,
          cores(10_000, read.primary + read.replica),
          cores(1000, tradeCpu!.primary + tradeCpu!.replica),
        ],
        ['Redis', read.redis, tradeCpu!.redis, cores(10_000, read.redis), cores(1000, tradeCpu!.redis)],
        [
          'balancer',
          read.balancer,
          tradeCpu!.balancer,
          cores(10_000, read.balancer),
          cores(1000, tradeCpu!.balancer),
        ],
      ],
    );

    const figures: BenchFigure[] = [
      ...INSTANCES.map((n) => {
        const r = bareLoads.get(n)!;
        return {
          target: `balancer + ${n} bare`,
          perSecond: r.reqPerSec,
          p50: r.p50,
          p99: r.p99,
          errors: r.errors,
        };
      }),
      ...passes.map((p) => ({
        target: p.label,
        perSecond: p.load.reqPerSec,
        p50: p.load.p50,
        p99: p.load.p99,
        errors: p.load.errors,
        ratios: { bare: Math.round(ratio(p) * 1000) / 1000 },
      })),
      {
        target: 'trades through 3 API processes',
        perSecond: trades!.reqPerSec,
        p50: trades!.p50,
        p99: trades!.p99,
        errors: trades!.errors,
      },
    ];

    return {
      markdown: [
        `Each API process and PostgreSQL server is the topology of \`npm run cluster\` (HAProxy, Redis, caches off so every list page is a query, info-level request logs as in production); ${context.connections} connections, ${context.durationSeconds} s per pass after ${context.warmupSeconds} s of warm-up; latencies in ms; CPU is ms of CPU time per request of each component over the pass. All of it, the load generator included, shares this machine's cores: adding processes shows what each hop costs rather than linear scaling.`,
        '',
        markdownTable(
          [
            'pass',
            'req/s',
            'p50',
            'p99',
            'errors',
            'of bare behind the balancer',
            'CPU API',
            'CPU primary',
            'CPU replica',
            'CPU Redis',
            'CPU balancer',
          ],
          rows,
        ),
        '',
        `Ledger difference after the trades: ${difference} (must be 0).`,
        '',
        'Cores on paper for a larger deployment, from the per-request CPU measured above (three API processes, lists from the replica; trades on the primary):',
        '',
        estimate,
      ].join('\n'),
      figures,
    };
  },
};
