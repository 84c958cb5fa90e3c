import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './ports.ts';

const run = promisify(execFile);
/** Debian's PostgreSQL 15 server binaries (initdb, pg_ctl, pg_basebackup); POSTGRES_BIN overrides. */
export const BIN = process.env.POSTGRES_BIN ?? '/usr/lib/postgresql/15/bin';
/** runuser lives in /usr/sbin (or /sbin), which a non-login root shell may not have on its PATH. */
const RUNUSER = ['/usr/sbin/runuser', '/sbin/runuser'].find((file) => existsSync(file)) ?? 'runuser';

/** initdb refuses to run as root: as root the cluster is made and run by the `postgres` user. */
const asRoot = process.getuid?.() === 0;

/** Why a throwaway cluster cannot be started here, or false when it can. */
export const postgresBinariesMissing: false | string = !existsSync(join(BIN, 'pg_ctl'))
  ? `${BIN}/pg_ctl is not installed (Debian: apt-get install postgresql-15); set POSTGRES_BIN to another version's bin directory`
  : asRoot && RUNUSER === 'runuser'
    ? 'running as root without runuser: cannot start PostgreSQL as the postgres user'
    : false;

/**
 * A PostgreSQL cluster of our own, in a temp dir on a free port, that its owner may stop
 * (`fast`, `immediate`) and start again with its own pg_ctl — never the machine's server. The
 * tests' fault suites and the local topology (`npm run cluster`) both use it.
 */
export interface OwnPostgres {
  /** postgres://postgres@127.0.0.1:PORT/postgres */
  url: string;
  port: number;
  /** The postmaster's pid while it runs (every backend is its child). */
  readonly pid: number | undefined;
  /** Starts it (again) and waits until it takes connections; a no-op when it runs. */
  start(): Promise<void>;
  stop(mode: 'smart' | 'fast' | 'immediate'): Promise<void>;
  /** pg_terminate_backend of every other session on `database`; returns how many were ended. */
  terminateBackends(database?: string): Promise<number>;
  /** Stops it for good and removes its directory. */
  dispose(): Promise<void>;
  /** The same, synchronously: for a process that is exiting (an `exit` handler cannot wait). */
  disposeNow(): void;
}

/** The command line that runs a PostgreSQL tool, as the postgres user when we are root. */
function pgCommand(tool: string, args: string[]): [string, string[]] {
  const file = join(BIN, tool);
  return asRoot ? [RUNUSER, ['-u', 'postgres', '--', file, ...args]] : [file, args];
}

async function pgBin(tool: string, args: string[]) {
  const [file, argv] = pgCommand(tool, args);
  return run(file, argv, { cwd: tmpdir() });
}

/** A temp dir the server's user owns, and a free port. */
async function serverDir(): Promise<{ dir: string; data: string; port: number }> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'markets-pg-'));
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    await chown(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  return { dir, data: join(dir, 'data'), port };
}

export async function ownPostgresServer(): Promise<OwnPostgres> {
  const { dir, data, port } = await serverDir();
  await pgBin('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync', '-N']);
  return serverAt(dir, data, port);
}

/**
 * A streaming replica of `primary` (hot standby, read-only), made with `pg_basebackup -R` into a
 * temp dir of its own on a free port. initdb's default pg_hba.conf lets 127.0.0.1 replicate.
 */
export async function ownStandbyServer(primary: OwnPostgres): Promise<OwnPostgres> {
  const { dir, data, port } = await serverDir();
  await pgBin('pg_basebackup', [
    ...['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres'],
    ...['-D', data, '-R', '-X', 'stream', '--no-sync', '-c', 'fast'],
  ]);
  return serverAt(dir, data, port, ['-c hot_standby=on']);
}

async function serverAt(dir: string, data: string, port: number, extra: string[] = []): Promise<OwnPostgres> {
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const options = [
    `-p ${port}`,
    "-c listen_addresses='127.0.0.1'",
    `-c unix_socket_directories='${dir}'`,
    // fsync=off: speed on a loaded machine; a stopped (even -m immediate) server loses nothing by
    // it, only an OS crash would. synchronous_commit stays on: a commit acknowledged is kept.
    '-c fsync=off -c full_page_writes=off',
    '-c max_connections=200 -c shared_buffers=16MB',
    ...extra,
  ].join(' ');
  let running = false;
  const self: OwnPostgres = {
    url,
    port,
    get pid() {
      if (!running) return undefined;
      const first = readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0];
      return first ? Number(first) : undefined;
    },
    async start() {
      if (running) return;
      await pgBin('pg_ctl', ['start', '-D', data, '-w', '-t', '60', '-l', join(dir, 'log'), '-o', options]);
      running = true;
    },
    async stop(mode) {
      if (!running) return;
      await pgBin('pg_ctl', ['stop', '-D', data, '-w', '-t', '60', '-m', mode]);
      running = false;
    },
    async terminateBackends(database = 'postgres') {
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      try {
        const { rows } = await admin.query(
          `select pg_terminate_backend(pid) as ended from pg_stat_activity
           where datname = $1 and pid <> pg_backend_pid() and backend_type = 'client backend'`,
          [database],
        );
        return rows.filter((row) => row.ended).length;
      } finally {
        await admin.end();
      }
    },
    async dispose() {
      await self.stop('immediate').catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
    disposeNow() {
      if (running)
        spawnSync(...pgCommand('pg_ctl', ['stop', '-D', data, '-w', '-m', 'immediate']), { cwd: tmpdir() });
      running = false;
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await self.start();
  return self;
}
