import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const HAPROXY = '/usr/sbin/haproxy';

export interface BalancerTimings {
  /** Health-check interval: a draining instance leaves rotation after `fall` failed checks. */
  checkIntervalMs: number;
  fall: number;
  rise: number;
}

export const DEFAULT_TIMINGS: BalancerTimings = { checkIntervalMs: 250, fall: 2, rise: 2 };

/**
 * The HAProxy configuration in front of the API processes. Why each line is there:
 * - `option httpchk GET /readyz`: an instance that drains (SIGTERM) answers 503 there while it
 *   still serves, so it leaves rotation before it stops listening; one whose database is down too.
 * - `retry-on conn-failure` + `option redispatch`: a request whose connection was refused (the
 *   instance between stopping and its health check going red, or not listening yet) is sent to
 *   another instance. Only connection failures: the request never reached the app, so even a
 *   trade is safe to send again. A request that reached an instance is never replayed here.
 * - the `streams` backend: Server-Sent Events (`…/events`) are answered in pieces for as long as
 *   the client stays; HAProxy forwards each piece as it comes (it buffers no response), and the
 *   server timeout there is an hour (the app sends a `: ping` every STREAM_HEARTBEAT_MS anyway).
 * - `option forwardfor`: the app (TRUST_PROXY=127.0.0.1) sees the client's address, for rate limits.
 */
export function haproxyConfig(options: {
  port: number;
  servers: { name: string; port: number }[];
  statsSocket: string;
  timings?: BalancerTimings;
}): string {
  const { checkIntervalMs, fall, rise } = options.timings ?? DEFAULT_TIMINGS;
  const servers = (check: (name: string) => string) =>
    options.servers.map((s) => `  server ${s.name} 127.0.0.1:${s.port} ${check(s.name)}`).join('\n');
  return `# Written by scripts/lib/cluster/haproxy.ts (npm run cluster); see haproxyConfig() for why.
global
  maxconn 4096
  stats socket ${options.statsSocket} mode 600 level admin

defaults
  mode http
  option forwardfor
  timeout connect 2s
  timeout client 65s
  timeout server 65s
  timeout http-request 10s
  timeout http-keep-alive 60s
  timeout queue 5s
  # A check may take this long (default: the interval itself, which a loaded machine overruns).
  timeout check 2s
  retries 3
  retry-on conn-failure
  option redispatch 1

frontend api
  bind 127.0.0.1:${options.port}
  acl event_stream path_end /events
  use_backend streams if event_stream
  default_backend api

backend api
  balance roundrobin
  option httpchk GET /readyz
  http-check expect status 200
  default-server check inter ${checkIntervalMs} fall ${fall} rise ${rise}
${servers(() => '')}

backend streams
  balance leastconn
  timeout server 1h
${servers((name) => `track api/${name}`)}
`;
}

export interface Balancer {
  url: string;
  port: number;
  readonly pid: number | undefined;
  /** HAProxy's view of each server: `UP`, `DOWN`, `MAINT`… (its runtime API, `show servers state`). */
  serverStates(): Promise<Record<string, string>>;
  stop(): Promise<void>;
  /** Kills it at once, synchronously (for an exiting process). */
  stopNow(): void;
}

/** Whether HAProxy is installed; if not, and `install` says so, installs Debian's package. */
export function ensureHaproxy(install: boolean, log: (line: string) => void = () => {}): void {
  if (existsSync(HAPROXY)) return;
  if (!install) throw new Error(`${HAPROXY} is missing: apt-get install haproxy`);
  log("HAProxy is not installed: installing Debian's package (apt-get install haproxy)");
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
  execFileSync('apt-get', ['install', '-y', '-qq', 'haproxy'], {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}

export const haproxyMissing: false | string = existsSync(HAPROXY)
  ? false
  : `${HAPROXY} is not installed (apt-get install haproxy)`;

/** Starts HAProxy in the foreground (`-db`) as our child, with its configuration in a temp dir. */
export async function startHaproxy(options: {
  port: number;
  servers: { name: string; port: number }[];
  timings?: BalancerTimings;
}): Promise<Balancer> {
  const dir = await mkdtemp(join(tmpdir(), 'markets-haproxy-'));
  const statsSocket = join(dir, 'admin.sock');
  const file = join(dir, 'haproxy.cfg');
  await writeFile(file, haproxyConfig({ ...options, statsSocket }));
  execFileSync(HAPROXY, ['-c', '-q', '-f', file]);
  const child: ChildProcess = spawn(HAPROXY, ['-db', '-f', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let errors = '';
  child.stderr!.on('data', (chunk) => {
    errors += chunk;
  });
  const alive = () => child.exitCode === null && child.signalCode === null;
  const ask = (command: string) =>
    new Promise<string>((resolve, reject) => {
      const socket = createConnection(statsSocket);
      let answer = '';
      socket.on('connect', () => socket.end(`${command}\n`));
      socket.on('data', (chunk) => {
        answer += chunk;
      });
      socket.on('end', () => resolve(answer));
      socket.on('error', reject);
    });
  for (let attempt = 0; !existsSync(statsSocket); attempt++) {
    if (!alive() || attempt > 100) {
      child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
      throw new Error(`HAProxy did not start: ${errors}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url: `http://127.0.0.1:${options.port}`,
    port: options.port,
    get pid() {
      return alive() ? child.pid : undefined;
    },
    async serverStates() {
      // "show stat" CSV: pxname,svname,…,status (18th column).
      const rows = (await ask('show stat')).split('\n').filter((line) => line.startsWith('api,'));
      return Object.fromEntries(
        rows
          .map((line) => line.split(','))
          .filter((cols) => cols[1] !== 'BACKEND' && cols[1] !== 'FRONTEND')
          .map((cols) => [cols[1]!, cols[17]!.split(' ')[0]!]),
      );
    },
    async stop() {
      if (alive()) {
        const exited = once(child, 'exit');
        child.kill('SIGUSR1'); // soft stop: finish the connections in flight
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited.finally(() => clearTimeout(timer));
      }
      await rm(dir, { recursive: true, force: true });
    },
    stopNow() {
      if (alive()) child.kill('SIGKILL');
    },
  };
}
