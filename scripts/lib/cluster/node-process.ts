import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { SERVICE_NODE_FLAGS } from '../service-node-flags.ts';

/** The repository's root: API and worker processes run from it, as `npm start` does. */
export const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

export type Env = Record<string, string>;

/** Where a process's output goes: each line with the process's name in front, or nowhere. */
export type OutputSink = ((name: string, line: string) => void) | undefined;

/**
 * One API (`src/server.ts`) or worker (`src/worker.ts`) process of the topology, started with
 * its own environment. It can be stopped (SIGTERM: drain, then exit) and started again on the
 * same port, which is what a rolling restart does.
 */
export interface NodeProcess {
  readonly name: string;
  /** The port an API process listens on (fixed, so that the balancer's configuration holds). */
  readonly port: number | undefined;
  readonly pid: number | undefined;
  running(): boolean;
  /** Starts it and resolves once it is ready (an API listens; a worker says it started). */
  start(): Promise<void>;
  /** Sends `signal` and waits for the exit; resolves with the exit code (null when killed by a signal). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  /** The last lines it wrote, for an error message. */
  tail(): string;
}

const READY = { api: /Server listening at http/, worker: /"msg":"worker started"/ };

export function nodeProcess(options: {
  name: string;
  kind: 'api' | 'worker';
  env: Env;
  port?: number;
  output?: OutputSink;
  startTimeoutMs?: number;
}): NodeProcess {
  const { name, kind, env, port, output, startTimeoutMs = 180_000 } = options;
  let child: ChildProcess | undefined;
  let lines: string[] = [];
  const remember = (line: string) => {
    lines.push(line);
    if (lines.length > 40) lines = lines.slice(-40);
    output?.(name, line);
  };
  const alive = () => child !== undefined && child.exitCode === null && child.signalCode === null;

  return {
    name,
    port,
    get pid() {
      return alive() ? child!.pid : undefined;
    },
    running: alive,
    tail: () => lines.join('\n'),
    async start() {
      if (alive()) return;
      const entry = kind === 'api' ? 'src/server.ts' : 'src/worker.ts';
      const started = spawn(process.execPath, [...SERVICE_NODE_FLAGS, entry], {
        cwd: ROOT,
        env: { ...env, ...(port !== undefined && { PORT: String(port) }) },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child = started;
      let partial = '';
      const onData = (chunk: Buffer) => {
        partial += chunk.toString('utf8');
        const parts = partial.split('\n');
        partial = parts.pop() ?? '';
        for (const line of parts) if (line) remember(line);
      };
      started.stdout!.on('data', onData);
      started.stderr!.on('data', onData);
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          started.kill('SIGKILL');
          reject(new Error(`${name} was not ready within ${startTimeoutMs} ms:\n${lines.join('\n')}`));
        }, startTimeoutMs);
        const check = () => {
          if (lines.some((line) => READY[kind].test(line))) {
            clearTimeout(timer);
            started.stdout!.off('data', check);
            resolve();
          }
        };
        started.stdout!.on('data', check);
        started.once('exit', (code, signal) => {
          clearTimeout(timer);
          reject(new Error(`${name} exited (${code ?? signal}) before it was ready:\n${lines.join('\n')}`));
        });
      });
    },
    async stop(signal = 'SIGTERM', timeoutMs = 30_000) {
      if (!alive()) return child?.exitCode ?? null;
      const running = child!;
      const exited = once(running, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
      running.kill(signal);
      const timer = setTimeout(() => running.kill('SIGKILL'), timeoutMs);
      const [code] = await exited.finally(() => clearTimeout(timer));
      return code;
    },
  };
}
