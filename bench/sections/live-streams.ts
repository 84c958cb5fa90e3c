import { loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { type BenchUsers, createBenchMarkets } from '../lib/bench-users.ts';
import { percentile } from '../lib/load.ts';
import { markdownTable } from '../lib/markdown-table.ts';
import { cpuMs, openFilesLimit, residentKib } from '../lib/proc-stats.ts';
import type { RunningServer } from '../lib/processes.ts';
import type { BenchContext } from '../lib/section.ts';
import { openSubscribers, type SubscriberResult, type SubscriberSpec } from '../lib/sse-subscribers.ts';
import { runTimedTrades, type TimedTrade } from '../lib/timed-trades.ts';

const SUBSCRIBERS = 1000;
const TRADES_PER_SECOND = 100;
const MARKETS = 100;
/** Markets each subscriber of the multi-market route asks for. */
const MARKETS_PER_MULTI_SUBSCRIBER = 10;
/** Threads receiving the streams; the main thread only sends trades. */
const CLIENT_THREADS = 2;
/** Sockets the trade sender may hold open (a trade that waits for one counts from when it was due). */
const TRADE_CONNECTIONS = 20;
/** How long, after the last trade's answer, stragglers may still arrive before what is missing counts as lost. */
const DRAIN_MS = 10_000;
const TARGET_P99_MS = 50;
/** A row whose server made fewer trades a second than this share of the rate says so instead of met/missed. */
const TARGET_RATE_SHARE = 0.95;

/**
 * The app's environment for this part: no limit of streams per client (the subscribers
 * all come from 127.0.0.1), the background workers off (they would share the two cores).
 */
const STREAM_ENV = { STREAMS_PER_CLIENT: '0', WORKERS: 'false' };

interface Scenario {
  label: string;
  subscribers: SubscriberSpec[];
  /** The markets whose events each subscriber must receive, by subscriber. */
  watches: string[][];
  marketOfTrade: (i: number) => string;
}

interface Measured {
  scenario: Scenario;
  opened: number;
  failures: string[];
  trades: TimedTrade[];
  results: SubscriberResult[];
  events: { seq: number; marketId: string; tradeId: string | null }[];
  rss: { before: number; subscribed: number; loaded: number };
  serverCpuPercent: number;
  clientCpuPercent: number;
  seconds: number;
  load: [number, number];
}

/**
 * SSE subscribers receiving trades made at a fixed rate, each scenario on a fresh instance of
 * the app (its RSS is then the streams', not earlier sections' or scenarios'): 1,000
 * subscribers of one market, then of 100 markets (10 each), then 1,000 subscribers of the
 * multi-market route watching 10 markets each. Every subscriber connects with Last-Event-ID = the log's last seq before it, so the
 * events it must receive are exactly those the log holds after that seq for its markets:
 * anything missing at the end is lost. Latency is taken from each trade to each subscriber's
 * receipt, in two bounds (commit lies between them): from the 201's arrival at the client
 * (after the commit: a lower bound) and from the trade's createdAt (PostgreSQL's clock at the
 * insert, before the commit: an upper bound, 1 ms resolution; same machine, same clock).
 */
export async function measureStreams(context: BenchContext, users: BenchUsers): Promise<string> {
  const limit = await openFilesLimit();
  if (limit < 2 * SUBSCRIBERS + 200)
    return `Skipped: this process may open ${limit} files; ${SUBSCRIBERS} subscribers need ${2 * SUBSCRIBERS + 200} (raise \`ulimit -n\`).`;
  const markets = await createBenchMarkets(context.app.url, users.adminAuth, {
    count: MARKETS,
    label: 'stream',
  });
  const startApp = () => context.startApp(STREAM_ENV, { discardStdout: true });
  // The main instance runs the same build: one stream there says whether the route exists.
  const probe = await fetch(`${context.app.url}/api/markets/${markets[0]}/events`, {
    signal: AbortSignal.timeout(5000),
  }).catch((error: Error) => error);
  if (probe instanceof Error || probe.status !== 200) {
    const why = probe instanceof Error ? probe.message : `${probe.status} ${await probe.text()}`;
    return `Skipped: \`GET /api/markets/:id/events\` is not usable on this build (${why.slice(0, 200)}).`;
  }
  await probe.body?.cancel();

  const one = (path: string) => ({ path });
  const scenarios: Scenario[] = [
    {
      // The same-run baseline: what this server manages at this rate with no stream open.
      label: 'no subscribers (baseline: trades on 1 market alone)',
      subscribers: [],
      watches: [],
      marketOfTrade: () => markets[0]!,
    },
    {
      label: `1 market, ${SUBSCRIBERS} subscribers of /api/markets/:id/events`,
      subscribers: Array.from({ length: SUBSCRIBERS }, () => one(`/api/markets/${markets[0]}/events`)),
      watches: Array.from({ length: SUBSCRIBERS }, () => [markets[0]!]),
      marketOfTrade: () => markets[0]!,
    },
    {
      label: `${MARKETS} markets, ${SUBSCRIBERS / MARKETS} subscribers each of /api/markets/:id/events`,
      subscribers: Array.from({ length: SUBSCRIBERS }, (_, j) =>
        one(`/api/markets/${markets[j % MARKETS]}/events`),
      ),
      watches: Array.from({ length: SUBSCRIBERS }, (_, j) => [markets[j % MARKETS]!]),
      marketOfTrade: (i) => markets[i % MARKETS]!,
    },
    (() => {
      const watches = Array.from({ length: SUBSCRIBERS }, (_, j) =>
        Array.from(
          { length: MARKETS_PER_MULTI_SUBSCRIBER },
          (_, k) => markets[(j + k * (MARKETS / MARKETS_PER_MULTI_SUBSCRIBER)) % MARKETS]!,
        ),
      );
      return {
        label: `${MARKETS} markets, ${SUBSCRIBERS} subscribers of /api/events?markets= (${MARKETS_PER_MULTI_SUBSCRIBER} markets each)`,
        subscribers: watches.map((w) => one(`/api/events?markets=${w.join(',')}`)),
        watches,
        marketOfTrade: (i: number) => markets[i % MARKETS]!,
      };
    })(),
  ];

  const measured: Measured[] = [];
  for (const scenario of scenarios) {
    context.log(`measuring ${scenario.label}, ${TRADES_PER_SECOND} trades/s`);
    // A fresh instance for each: its RSS before is an idle process's, not the last scenario's heap.
    const instance = await startApp();
    try {
      // One request through the stack first, so the RSS before counts a warm process.
      await (await fetch(`${instance.url}/api/markets/${markets[0]}`)).arrayBuffer();
      measured.push(await measureScenario(context, instance, users, scenario));
    } finally {
      await instance.stop();
    }
    const m = measured.at(-1)!;
    const s = summarise(m);
    context.log(
      `  ${m.opened}/${scenario.subscribers.length} open, ${s.tradesOk} trades at ${s.tradeRate}/s, ${s.delivered}/${s.expected} delivered, ${s.lost} lost, p99 ${s.fromAnswer.p99} ms (from 201) / ${s.fromCreated.p99} ms (from createdAt)`,
    );
  }
  return report(context, measured);
}

async function measureScenario(
  context: BenchContext,
  app: RunningServer,
  users: BenchUsers,
  scenario: Scenario,
): Promise<Measured> {
  const before = (await residentKib(app.pid)).rss;
  const { rows } = await sql<{ seq: string | null }>`select max(seq) as seq from events`.execute(context.db);
  const startSeq = Number(rows[0]?.seq ?? 0);
  const subscribers = await openSubscribers({
    url: app.url,
    subscribers: scenario.subscribers.map((s) => ({ ...s, headers: { 'last-event-id': String(startSeq) } })),
    threads: CLIENT_THREADS,
  });
  await sleep(1000);
  const subscribed = (await residentKib(app.pid)).rss;

  const load: [number, number] = [loadavg()[0]!, 0];
  const serverCpuBefore = await cpuMs(app.pid);
  const clientCpuBefore = process.cpuUsage();
  const started = performance.now();
  const trades = await runTimedTrades({
    url: app.url,
    rate: TRADES_PER_SECOND,
    durationSeconds: context.durationSeconds,
    connections: TRADE_CONNECTIONS,
    trade: (i) => ({
      marketId: scenario.marketOfTrade(i),
      auth: users.traderAuths[i % users.traderAuths.length]!,
      body: { outcome: i % 2 === 0 ? 'YES' : 'NO', side: 'buy', amount: 1 },
    }),
  });
  const watchers = new Map<string, number>();
  for (const w of scenario.watches) for (const m of w) watchers.set(m, (watchers.get(m) ?? 0) + 1);
  const expected = trades.reduce(
    (sum, t) => sum + (t.status === 201 ? (watchers.get(t.marketId) ?? 0) : 0),
    0,
  );
  const deadline = performance.now() + DRAIN_MS;
  while ((await subscribers.received()) < expected && performance.now() < deadline) await sleep(100);
  const seconds = (performance.now() - started) / 1000;
  const clientCpu = process.cpuUsage(clientCpuBefore);
  const serverCpu = (await cpuMs(app.pid)) - serverCpuBefore;
  load[1] = loadavg()[0]!;
  const loaded = (await residentKib(app.pid)).rss;
  const results = await subscribers.close();

  // The markets watched and those traded (the baseline watches none, yet its trades have events).
  const watched = [...new Set([...watchers.keys(), ...trades.map((t) => t.marketId)])];
  const { rows: events } = await sql<{ seq: string; marketId: string; tradeId: string | null }>`
    select seq, market_id as "marketId", payload->'trade'->>'id' as "tradeId"
    from events where seq > ${startSeq} and market_id = any(${watched}::uuid[]) order by seq
  `.execute(context.db);
  return {
    scenario,
    opened: subscribers.ok,
    failures: subscribers.failures.map((f) => `${f.status ?? 'no answer'} ${f.error ?? ''}`.trim()),
    trades,
    results,
    events: events.map((e) => ({ ...e, seq: Number(e.seq) })),
    rss: { before, subscribed, loaded },
    serverCpuPercent: Math.round((serverCpu / (seconds * 1000)) * 100),
    clientCpuPercent: Math.round(((clientCpu.user + clientCpu.system) / 1000 / (seconds * 1000)) * 100),
    seconds,
    load,
  };
}

interface Latencies {
  p50: number;
  p99: number;
  max: number;
}

/** Lost, duplicated and out-of-order events over every subscriber, and the two latency bounds. */
function summarise(m: Measured) {
  const tradeById = new Map(m.trades.flatMap((t) => (t.tradeId ? [[t.tradeId, t] as const] : [])));
  const bySeq = new Map(m.events.map((e) => [e.seq, e]));
  const eventsOf = new Map<string, number[]>();
  for (const e of m.events) eventsOf.set(e.marketId, [...(eventsOf.get(e.marketId) ?? []), e.seq]);
  const fromAnswer: number[] = [];
  const fromCreated: number[] = [];
  let expected = 0;
  let delivered = 0;
  let lost = 0;
  let duplicated = 0;
  let outOfOrder = 0;
  let unexpected = 0;
  let otherEvents = 0;
  let closedByServer = 0;
  m.results.forEach((r, j) => {
    if (r.status !== 200) return;
    const want = m.scenario.watches[j]!.flatMap((market) => eventsOf.get(market) ?? []);
    expected += want.length;
    const seen = new Set<number>();
    let previous = -1;
    for (let k = 0; k < r.ids.length; k++) {
      const seq = r.ids[k]!;
      if (seen.has(seq)) duplicated++;
      if (seq <= previous) outOfOrder++;
      previous = Math.max(previous, seq);
      seen.add(seq);
      const event = bySeq.get(seq);
      const trade = event?.tradeId ? tradeById.get(event.tradeId) : undefined;
      if (!event || !trade) {
        unexpected++;
        continue;
      }
      delivered++;
      fromAnswer.push(r.times[k]! - trade.answeredAt);
      fromCreated.push(r.times[k]! - trade.createdAt!);
    }
    for (const seq of want) if (!seen.has(seq)) lost++;
    otherEvents += r.others.length;
    if (r.closedByServer) closedByServer++;
  });
  const bounds = (values: number[]): Latencies => {
    values.sort((a, b) => a - b);
    return {
      p50: percentile(values, 0.5),
      p99: percentile(values, 0.99),
      max: Math.round((values.at(-1) ?? 0) * 100) / 100,
    };
  };
  const ok = m.trades.filter((t) => t.status === 201);
  const failedStatuses = new Map<string, number>();
  for (const t of m.trades)
    if (t.status !== 201)
      failedStatuses.set(
        String(t.status ?? 'no answer'),
        (failedStatuses.get(String(t.status ?? 'no answer')) ?? 0) + 1,
      );
  const span =
    ok.length > 1
      ? (Math.max(...ok.map((t) => t.answeredAt)) - Math.min(...m.trades.map((t) => t.sentAt))) / 1000
      : 0;
  const tradeEvents = m.events.filter((e) => e.tradeId !== null).length;
  return {
    expected,
    delivered,
    lost,
    duplicated,
    outOfOrder,
    unexpected,
    otherEvents,
    closedByServer,
    tradesOk: ok.length,
    tradesFailed: m.trades.length - ok.length,
    failedStatuses: [...failedStatuses].map(([status, n]) => `${n} × ${status}`).join(', '),
    /** Trades answered 201 per second, from the first trade sent to the last 201. */
    tradeRate: span > 0 ? Math.round(ok.length / span) : 0,
    tradeEvents,
    tradeAnswer: bounds(ok.map((t) => t.answeredAt - t.sentAt)),
    fromAnswer: bounds(fromAnswer),
    fromCreated: bounds(fromCreated),
  };
}

function report(context: BenchContext, measured: Measured[]): string {
  const rows = measured.map((m) => ({ m, s: summarise(m) }));
  const kib = (n: number) => `${Math.round(n / 1024)} MiB`;
  return [
    `${SUBSCRIBERS} subscribers per row (none in the first: the same-run baseline of the trade rate), each row on a fresh app instance (\`${Object.entries(
      STREAM_ENV,
    )
      .map(([k, v]) => `${k}=${v}`)
      .join(
        ' ',
      )}\`), received by ${CLIENT_THREADS} worker threads of the bench process (raw node:http, byte-level SSE parsing). ` +
      `Trades: ${TRADES_PER_SECOND}/s open loop for ${context.durationSeconds} s, 1-unit buys by 50 traders over ≤ ${TRADE_CONNECTIONS} keep-alive sockets. ` +
      `Latency, ms, over every (trade, subscriber) delivery: **from 201** = receipt − the 201's arrival at the client (after commit: a lower bound); **from createdAt** = receipt − the trade's createdAt (PostgreSQL's clock at the insert, before commit: an upper bound). ` +
      `Lost: events the log holds after each subscriber's Last-Event-ID for its markets that it never received, ${DRAIN_MS / 1000} s after the last trade at most. Target: p99 ≤ ${TARGET_P99_MS} ms, 0 lost.`,
    '',
    markdownTable(
      [
        'subscribers',
        'trades ok',
        'trades/s done',
        'deliveries',
        'lost',
        'dup / out of order',
        'p50 from 201',
        'p99 from 201',
        'p50 from createdAt',
        'p99 from createdAt',
        'max from createdAt',
        'target',
      ],
      rows.map(({ m, s }) => [
        m.scenario.label,
        s.tradesOk,
        s.tradeRate,
        s.delivered,
        s.lost,
        `${s.duplicated} / ${s.outOfOrder}`,
        ...(s.delivered === 0
          ? ['—', '—', '—', '—', '—']
          : [s.fromAnswer.p50, s.fromAnswer.p99, s.fromCreated.p50, s.fromCreated.p99, s.fromCreated.max]),
        m.scenario.subscribers.length === 0
          ? '—'
          : s.tradeRate < TARGET_RATE_SHARE * TRADES_PER_SECOND
            ? `not at ${TRADES_PER_SECOND} trades/s`
            : s.lost === 0 && s.fromCreated.p99 <= TARGET_P99_MS && m.opened === m.scenario.subscribers.length
              ? 'met'
              : s.lost === 0 &&
                  s.fromAnswer.p99 <= TARGET_P99_MS &&
                  m.opened === m.scenario.subscribers.length
                ? 'met on the lower bound only'
                : 'missed',
      ]),
    ),
    '',
    markdownTable(
      [
        'subscribers',
        'streams open',
        'server RSS before',
        'with subscribers',
        'after the trades',
        'RSS per subscriber',
        'server CPU',
        'bench client CPU',
        'trade 201 p50 / p99',
        'failed trades',
        'load avg (1 min) start → end',
      ],
      rows.map(({ m, s }) => [
        m.scenario.label,
        m.opened,
        kib(m.rss.before),
        kib(m.rss.subscribed),
        kib(m.rss.loaded),
        m.scenario.subscribers.length
          ? `${((m.rss.subscribed - m.rss.before) / m.scenario.subscribers.length).toFixed(1)} KiB`
          : '—',
        `${m.serverCpuPercent} %`,
        `${m.clientCpuPercent} %`,
        `${s.tradeAnswer.p50} / ${s.tradeAnswer.p99} ms`,
        s.tradesFailed ? s.failedStatuses : 0,
        `${m.load[0].toFixed(1)} → ${m.load[1].toFixed(1)}`,
      ]),
    ),
    '',
    'Each row runs on its own fresh instance; RSS before = that idle instance after one request, per subscriber = (with subscribers − before) / subscribers, before any trade. CPU is % of one core over the trading window (the drain included); server = the app process, client = the whole bench process (its receiving threads and the trade sender). Trade 201 latency counts from when each trade was due (open loop): a server slower than the rate shows as queueing there.',
    ...rows.flatMap(({ m, s }) => {
      const notes: string[] = [];
      if (m.failures.length > 0)
        notes.push(`${m.scenario.label}: ${m.failures.length} streams refused, first: ${m.failures[0]}.`);
      if (s.unexpected > 0)
        notes.push(`${m.scenario.label}: ${s.unexpected} events not matched to a trade of this run.`);
      if (s.otherEvents > 0 || s.closedByServer > 0)
        notes.push(
          `${m.scenario.label}: ${s.otherEvents} reset/end events, ${s.closedByServer} streams ended by the server.`,
        );
      if (s.tradeEvents !== s.tradesOk)
        notes.push(
          `${m.scenario.label}: ${s.tradesOk} trades answered 201 but the log holds ${s.tradeEvents} trade events.`,
        );
      return notes.length ? ['', ...notes] : [];
    }),
  ].join('\n');
}
