import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { freePort } from '../../scripts/lib/cluster/ports.ts';

export interface RunningServer {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

export { freePort };

/** Children still running: killed when the bench exits however it ends (an interrupt included). */
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/**
 * Starts `node <script>` in its own process (so it never shares an event loop with the load
 * generator) with PORT set, and resolves once `readyPath` answers 2xx.
 */
export async function startServer(options: {
  script: string;
  /** Node's own flags, before the script. */
  nodeFlags?: readonly string[];
  args?: string[];
  env?: Record<string, string>;
  readyPath?: string;
  timeoutMs?: number;
  /** Drop what the child writes to stdout (its request logs) instead of mixing it into the report. */
  discardStdout?: boolean;
}): Promise<RunningServer> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [...(options.nodeFlags ?? []), options.script, ...(options.args ?? [])],
    {
      env: { ...process.env, ...options.env, PORT: String(port), HOST: '127.0.0.1' },
      stdio: ['ignore', options.discardStdout ? 'ignore' : 'inherit', 'pipe'],
    },
  );
  children.add(child);
  child.once('exit', () => children.delete(child));
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk;
    process.stderr.write(chunk);
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (options.timeoutMs ?? 90_000);
  while (true) {
    if (child.exitCode !== null) throw new Error(`${options.script} exited (${child.exitCode}): ${stderr}`);
    try {
      const res = await fetch(`${url}${options.readyPath ?? '/'}`);
      await res.arrayBuffer();
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${options.script} did not become ready on ${url}: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { url, pid: child.pid!, stop: () => stop(child) };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}
