import { type ChildProcess, spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';

/** `node src/server.ts` as an operator runs it: its own process, its own environment. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export type Env = Record<string, string>;

/** Only what the test sets: the developer's own DATABASE_URL, PORT or JWT_SECRET must not leak in. */
export function serverEnv(env: Env): Env {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? tmpdir(),
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'info',
    ...env,
  };
}

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface ServerProcess {
  url: string;
  child: ChildProcess;
  out: { stdout: string; stderr: string };
  finished: Promise<Finished>;
  /** Sends the signal and waits for the exit, failing after `ms`. */
  stop(signal: NodeJS.Signals, ms?: number): Promise<Finished & { tookMs: number }>;
  alive(): boolean;
  /** Sends the signal (SIGKILL by default) if it still runs, and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<Finished>;
}

const running = new Set<ChildProcess>();

/** Kills (SIGKILL) every server a test started and left running: call it in `after`. */
export function killServers() {
  for (const child of running) child.kill('SIGKILL');
}

/** Collects a child's output; `finished` resolves when it has exited and its pipes are closed. */
export function collect(child: ChildProcess) {
  const out = { stdout: '', stderr: '' };
  child.stdout!.on('data', (chunk) => {
    out.stdout += chunk;
  });
  child.stderr!.on('data', (chunk) => {
    out.stderr += chunk;
  });
  const finished = new Promise<Finished>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal, ...out })),
  );
  return { out, finished };
}

/** Runs a script (`src/server.ts`, `scripts/…`) to its end. */
export function run(file: string, args: string[], env: Env): Promise<Finished> {
  const child = spawn(process.execPath, [file, ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return collect(child).finished;
}

/** Starts `src/server.ts` (HOST 127.0.0.1) and resolves once it says where it listens. */
export async function startServer(env: Env, timeoutMs = 60_000): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['src/server.ts'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const { out, finished } = collect(child);
  finished.then(() => running.delete(child));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not listen in ${timeoutMs} ms:\n${out.stdout}\n${out.stderr}`));
    }, timeoutMs);
    const onData = () => {
      const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out.stdout);
      if (match) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', onData);
    finished.then((f) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${f.code}) before listening:\n${f.stdout}\n${f.stderr}`));
    });
  });
  return {
    url,
    child,
    out,
    finished,
    async stop(signal, ms = 15_000) {
      const started = Date.now();
      child.kill(signal);
      let timer: NodeJS.Timeout | undefined;
      const result = await Promise.race([
        finished,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no exit ${ms} ms after ${signal}`)), ms);
        }),
      ]).finally(() => clearTimeout(timer));
      return { ...result, tookMs: Date.now() - started };
    },
    alive: () => child.exitCode === null && child.signalCode === null,
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return finished;
    },
  };
}
