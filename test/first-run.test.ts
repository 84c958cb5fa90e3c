import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { SERVICE_NODE_FLAGS } from '../scripts/lib/service-node-flags.ts';
import { eventually } from './helpers/eventually.ts';
import { collect, ROOT } from './helpers/server-process.ts';

/**
 * The README's commands as a new user runs them on the machine as it comes: its own Node (20 here
 * and on CI, at /usr/bin/node) launching npm, a stock PATH without our Node 24 on it, and nothing of
 * this shell's environment.
 */
const STOCK_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const STOCK_NODE = '/usr/bin/node';
const MINIMUM = '22.19';

const stockNodeVersion = existsSync(STOCK_NODE)
  ? execFileSync(STOCK_NODE, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim()
  : undefined;
const older = (version: string, than: string) => {
  const [a, b] = [version, than].map((v) => v.split('.').map(Number));
  for (let i = 0; i < 3; i++) if ((a![i] ?? 0) !== (b![i] ?? 0)) return (a![i] ?? 0) < (b![i] ?? 0);
  return false;
};
/** Why the stock-Node tests cannot prove anything here, or undefined when they can. */
const noOldNode =
  stockNodeVersion === undefined
    ? `no ${STOCK_NODE}`
    : older(stockNodeVersion, MINIMUM)
      ? undefined
      : `${STOCK_NODE} is ${stockNodeVersion}, not older than ${MINIMUM}: nothing to guard against`;

/** npm's own script (npm-cli.js), which the tests run under either Node. */
const npmCli = (() => {
  for (const dir of STOCK_PATH.split(':')) {
    if (existsSync(join(dir, 'npm'))) return realpathSync(join(dir, 'npm'));
  }
  return undefined;
})();

const stockEnv = (extra: Record<string, string> = {}) => ({ PATH: STOCK_PATH, HOME: tmpdir(), ...extra });

const temps: string[] = [];
const children = new Set<ChildProcess>();
/** Servers the tests started through npm: a failing test must not leave one behind holding its pipes. */
const servers = new Set<number>();
after(() => {
  for (const child of children) child.kill('SIGKILL');
  for (const pid of servers) if (!gone(pid)) process.kill(pid, 'SIGKILL');
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

/** The project as a user's checkout would hold it, with this worktree's installed node_modules. */
function checkout(withNodeModules: boolean): string {
  const dir = mkdtempSync(join(tmpdir(), 'first-run-'));
  temps.push(dir);
  for (const entry of ['package.json', 'package-lock.json', 'src', 'scripts']) {
    cpSync(join(ROOT, entry), join(dir, entry), { recursive: true });
  }
  if (withNodeModules) symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

/** `npm start` in `dir`, npm itself run by `node`; resolves once the server says where it listens. */
async function npmStart(node: string, dir: string, env: Record<string, string>) {
  const npm = spawn(node, [npmCli!, 'start'], {
    cwd: dir,
    env: stockEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(npm);
  const { out, finished } = collect(npm);
  finished.then(() => children.delete(npm));
  let listening: { url: string; pid: number } | undefined;
  await Promise.race([
    eventually(
      () => {
        const line = out.stdout.split('\n').find((l) => l.includes('Server listening at'));
        if (line) {
          const { pid, msg } = JSON.parse(line) as { pid: number; msg: string };
          listening = { pid, url: /http:\/\/[\d.]+:\d+/.exec(msg)![0] };
        }
        return listening !== undefined;
      },
      240_000, // a first start migrates a new PGlite data dir: slow on a loaded machine
      'npm start listening',
    ),
    finished.then((f) =>
      assert.fail(`npm start exited (${f.code}) before listening:\n${f.stdout}\n${f.stderr}`),
    ),
  ]);
  servers.add(listening!.pid);
  const exited = once(npm, 'exit');
  return { npm, exited, out, ...listening! };
}

const gone = (pid: number) => {
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
};

const portFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });

/** The signal goes to the npm process only, as a process manager sends it (not to the group). */
async function stopsOn(signal: NodeJS.Signals, started: Awaited<ReturnType<typeof npmStart>>) {
  const port = Number(new URL(started.url).port);
  started.npm.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    started.exited,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`npm still runs 30 s after ${signal}`)), 30_000);
    }),
  ]).finally(() => clearTimeout(timer));
  await eventually(
    () => gone(started.pid),
    10_000,
    `the server (pid ${started.pid}) gone after ${signal} to npm`,
  );
  assert.equal(await portFree(port), true, `port ${port} free after ${signal}`);
  const { stdout, stderr } = started.out;
  assert.match(stdout, new RegExp(`"signal":"${signal}".*shutting down`), 'the server stopped gracefully');
  assert.doesNotMatch(stdout + stderr, /shutdown timed out|shutdown failed/);
}

describe('the first run on the machine as it comes', () => {
  test('the README minimum is the highest minimum the installed dependencies declare', async () => {
    const pkg = (await import('../package.json', { with: { type: 'json' } })).default;
    const lock = (await import('../package-lock.json', { with: { type: 'json' } })).default as {
      packages: Record<string, { engines?: { node?: string } | string[] }>;
    };
    // The lowest version each range admits ("^20.17.0 || >=22.9.0" → 20.17.0); the highest of those.
    const lowest = (range: string) =>
      range
        .split('||')
        .map((alt) =>
          (/(\d+)(?:\.(\d+|[x*]))?(?:\.(\d+|[x*]))?/.exec(alt) ?? []).slice(1).map((n) => Number(n) || 0),
        )
        .reduce((a, b) => (older(b.join('.'), a.join('.')) ? b : a));
    let highest = '0.0.0';
    for (const [path, entry] of Object.entries(lock.packages)) {
      const range = !path || Array.isArray(entry.engines) ? undefined : entry.engines?.node;
      if (range) {
        const v = lowest(range).join('.');
        if (older(highest, v)) highest = v;
      }
    }
    assert.equal(highest, `${MINIMUM}.0`);
    assert.equal(pkg.engines.node, `>=${MINIMUM}`);
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    assert.match(readme, new RegExp(`Node(?:\\.js)? ${MINIMUM.replace('.', '\\.')} or newer`));
    // The Node that npm installs for the project satisfies it, and is the one npm scripts find.
    assert.equal(older(pkg.dependencies.node, MINIMUM), false);
    const bundled = execFileSync(join(ROOT, 'node_modules/.bin/node'), ['-p', 'process.versions.node'], {
      encoding: 'utf8',
    }).trim();
    assert.equal(bundled, pkg.dependencies.node);
  });

  test('too old a Node: one line says which version is needed and how to get it, no stack trace', {
    skip: noOldNode,
  }, () => {
    // `npm start` before `npm ci`: no Node installed by npm yet, the machine's is found.
    const bare = checkout(false);
    const npm = spawnSyncText(STOCK_NODE, [npmCli!, 'start'], bare);
    assert.notEqual(npm.status, 0);
    const ours = npm.stderr.split('\n').filter((l) => l.includes('Markets API'));
    assert.equal(ours.length, 1, npm.stderr);
    assert.match(
      ours[0]!,
      new RegExp(`needs Node\\.js ${MINIMUM} or newer; this is v${stockNodeVersion}.*run npm ci first`),
    );
    assert.doesNotMatch(npm.stdout + npm.stderr, /ERR_UNKNOWN_FILE_EXTENSION|\n\s+at /);

    // The old Node pointed at our code with the guard, after npm ci: how to start it instead.
    const direct = spawnSyncText(STOCK_NODE, ['--import', './scripts/preload.js', 'src/server.ts'], ROOT);
    assert.equal(direct.status, 1);
    assert.equal(direct.stderr.trim().split('\n').length, 1, direct.stderr);
    assert.match(direct.stderr, /needs Node\.js 22\.19 or newer.*start it with npm/);
  });

  test('npm start under the old Node’s npm serves the API on the Node npm installed, reads .env, and SIGTERM to npm stops it all', {
    skip: noOldNode ?? (npmCli ? undefined : 'no npm on the stock PATH'),
    timeout: 360_000,
  }, async () => {
    const dir = checkout(true);
    const dataDir = join(dir, 'from-dotenv');
    writeFileSync(
      join(dir, '.env'),
      [
        '# as copied from .env.example and edited',
        `DATA_DIR=${dataDir}`,
        'DOCS_ENABLED=false',
        'SHUTDOWN_DRAIN_MS=0',
        'HOST=203.0.113.9', // the real environment's HOST wins
        '',
      ].join('\n'),
    );
    const started = await npmStart(STOCK_NODE, dir, { HOST: '127.0.0.1', PORT: '0' });
    assert.match(started.url, /^http:\/\/127\.0\.0\.1:/, 'the real environment wins over .env');
    const health = await fetch(`${started.url}/healthz`);
    assert.equal(health.status, 200);
    assert.equal(existsSync(join(dataDir, 'PG_VERSION')) || existsSync(dataDir), true, '.env DATA_DIR used');
    assert.equal((await fetch(`${started.url}/openapi.json`)).status, 404, '.env DOCS_ENABLED=false applied');
    assert.equal(
      readlinkSync(`/proc/${started.pid}/exe`),
      realpathSync(join(ROOT, 'node_modules/.bin/node')),
      'the server runs on the Node that npm ci installed, not on the one that ran npm',
    );
    // The heap flags are package.json's (SERVICE_NODE_FLAGS reads them there for the cluster and the bench).
    const argv = readFileSync(`/proc/${started.pid}/cmdline`, 'utf8').split('\0');
    assert.ok(SERVICE_NODE_FLAGS.some((flag) => flag.startsWith('--max-old-space-size=')));
    assert.ok(
      SERVICE_NODE_FLAGS.every((flag) => argv.includes(flag)),
      `the server's heap is bounded by ${SERVICE_NODE_FLAGS.join(' ')} (its command line: ${argv.join(' ')})`,
    );
    assert.doesNotMatch(started.out.stderr, /ERR_UNKNOWN_FILE_EXTENSION/);
    await stopsOn('SIGTERM', started);
  });

  test('SIGINT to npm start (npm under Node 24) stops the server gracefully; the port is free', {
    skip: npmCli ? undefined : 'no npm',
    timeout: 360_000,
  }, async () => {
    const dir = checkout(true);
    const started = await npmStart(process.execPath, dir, {
      HOST: '127.0.0.1',
      PORT: '0',
      DATA_DIR: join(dir, 'data'),
      SHUTDOWN_DRAIN_MS: '200',
    });
    assert.equal((await fetch(`${started.url}/healthz`)).status, 200);
    await stopsOn('SIGINT', started);
  });
});

function spawnSyncText(file: string, args: string[], cwd: string) {
  return spawnSync(file, args, { cwd, env: stockEnv(), encoding: 'utf8', timeout: 60_000 });
}
