import type { FastifyBaseLogger, FastifyPluginAsync } from 'fastify';
import type { JobName, ScheduleName } from '../lib/jobs/jobs.ts';
import type { BatchHandler, JobQueue } from '../lib/jobs/queue.ts';
import { type PeriodicTask, startPeriodicTask } from '../lib/periodic-task.ts';

/** A pg-boss worker of one job queue: `concurrency` batches of up to `batchSize` jobs at a time. */
export type JobWorker = {
  [N in JobName]: { name: N; concurrency: number; batchSize: number; handle: BatchHandler<N> };
}[JobName];

/**
 * Maintenance that must run once per deployment (pruning), however many processes run workers: a
 * pg-boss cron schedule. pg-boss fires at most once a minute; a task that needs less latency is a Sweep.
 */
export interface Schedule {
  name: ScheduleName;
  /** Five-field cron expression, UTC. */
  cron: string;
  run(): Promise<void>;
}

/**
 * A loop that every process running workers runs on its own timer, because it needs sub-minute
 * latency (a market's close, a webhook's next delivery) that a pg-boss schedule cannot give. Its work
 * must be safe in any number of processes at once (row locks or keyed jobs make it so).
 */
export interface Sweep {
  intervalMs: number;
  run(): Promise<void>;
  /** A run that failed; the next one still comes. */
  onError(error: unknown): void;
}

/**
 * What each `modules/<name>/index.ts` factory returns. The factory takes only the dependencies the
 * module uses and starts nothing that needs the queue: the process hosting it (app.ts, worker.ts)
 * registers the routes, and runs the jobs, schedules and sweeps where workers run.
 */
export interface Module {
  /** The module's HTTP routes, prefixes included; registered by the API process only. */
  routes?: FastifyPluginAsync;
  jobs?: readonly JobWorker[];
  schedules?: readonly Schedule[];
  sweeps?: readonly Sweep[];
  /** Releases what the factory opened (timers, connections); runs when the host closes. */
  onClose?: () => Promise<void>;
}

/**
 * Checks a module against the contract while keeping its own public surface (the services and
 * repositories other modules take) in its type: `return defineModule({ service, routes, ... })`.
 */
export function defineModule<T extends Module>(module: T): T {
  return module;
}

/** The background work of some modules, running in this process. */
export interface BackgroundWork {
  /** Stops the sweeps and waits for their runs; the queue's own stop ends workers and schedules. */
  stop(): Promise<void>;
}

/**
 * Starts the modules' job workers, registers their schedules (pg-boss then fires each once per
 * deployment) and starts their sweeps. Called only by processes that run workers.
 */
export async function startBackgroundWork(
  queue: Pick<JobQueue, 'work' | 'schedule'>,
  modules: readonly Module[],
  log: FastifyBaseLogger,
): Promise<BackgroundWork> {
  for (const module of modules) {
    for (const job of module.jobs ?? []) {
      await queue.work(job.name, job, job.handle as BatchHandler<JobName>);
    }
    for (const schedule of module.schedules ?? []) {
      await queue.schedule(schedule.name, schedule.cron, () =>
        schedule.run().catch((error: unknown) => {
          log.warn(
            { err: error, schedule: schedule.name },
            `${schedule.name} failed; it runs again at its next time`,
          );
          throw error;
        }),
      );
    }
  }
  const sweeps: PeriodicTask[] = modules.flatMap((module) =>
    (module.sweeps ?? []).map((sweep) => startPeriodicTask(sweep.intervalMs, sweep.run, sweep.onError)),
  );
  return {
    async stop() {
      await Promise.all(sweeps.map((sweep) => sweep.stop()));
    },
  };
}
