import { Agent, request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { type LoadResult, percentile } from './load.ts';

/**
 * An open-loop load at a steady rate: request i is due at start + i/rate whatever happened
 * before, and its latency counts from when it was due, so a stalled server shows up as the
 * queueing a user would see (no coordinated omission). autocannon's `overallRate` instead
 * gives each connection a quota per second that it spends at once, in a burst at the start
 * of every second: it measures a 50-request burst every second, not a steady rate.
 */
export async function runConstantRate(options: {
  url: string;
  paths: readonly string[];
  rate: number;
  durationSeconds: number;
  /** Most sockets open at once; requests beyond it wait (and that wait is counted). */
  connections: number;
}): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections });
  const { hostname, port } = new URL(options.url);
  const latencies: number[] = [];
  let errors = 0;
  const inFlight = new Set<Promise<void>>();
  const send = (path: string, due: number) =>
    new Promise<void>((resolve) => {
      const req = request({ agent, hostname, port, path, method: 'GET' }, (res) => {
        res.resume();
        res.on('end', () => {
          latencies.push(performance.now() - due);
          if (res.statusCode === undefined || res.statusCode >= 300) errors++;
          resolve();
        });
      });
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end();
    });

  const total = Math.round(options.rate * options.durationSeconds);
  const interval = 1000 / options.rate;
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    const due = start + i * interval;
    const wait = due - performance.now();
    // Timers count whole milliseconds: a fraction left over is sent early, timed from its sending.
    if (wait >= 1) await sleep(Math.floor(wait));
    const sent = send(options.paths[i % options.paths.length]!, Math.min(due, performance.now()));
    inFlight.add(sent);
    void sent.then(() => inFlight.delete(sent));
  }
  await Promise.all(inFlight);
  const seconds = (performance.now() - start) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    reqPerSec: Math.round(latencies.length / seconds),
    p50: percentile(latencies, 0.5),
    p95: percentile(latencies, 0.95),
    p99: percentile(latencies, 0.99),
    errors,
  };
}
