import { Worker } from 'node:worker_threads';

export interface SubscriberSpec {
  path: string;
  headers?: Record<string, string>;
}

export interface SubscriberResult {
  path: string;
  /** The stream's HTTP status (undefined when the connection failed). */
  status: number | undefined;
  error: string | undefined;
  /** Each trade.created event's `id:` (its seq), in arrival order. */
  ids: Float64Array;
  /** When each arrived: wall-clock ms (performance.timeOrigin + performance.now()). */
  times: Float64Array;
  /** Every other event (reset, end…), with its data. */
  others: { type: string; id: number; data: string | undefined; at: number }[];
  /** Comment lines (heartbeats). */
  comments: number;
  /** The server ended the stream before the bench closed it. */
  closedByServer: boolean;
}

export interface WorkerInput {
  url: string;
  subscribers: SubscriberSpec[];
  connectConcurrency: number;
  keepData: string[];
}
export type WorkerRequest = { type: 'count' } | { type: 'close' };
export type WorkerReply =
  | {
      type: 'opened';
      ok: number;
      failures: { path: string; status: number | undefined; error: string | undefined }[];
    }
  | { type: 'count'; received: number }
  | { type: 'results'; results: SubscriberResult[] };

export interface Subscribers {
  ok: number;
  failures: Extract<WorkerReply, { type: 'opened' }>['failures'];
  /** trade.created events received so far, over every subscriber. */
  received(): Promise<number>;
  /** Closes every stream; each subscriber's record, in the order of `subscribers`. */
  close(): Promise<SubscriberResult[]>;
}

const WORKER = new URL('./sse-worker.ts', import.meta.url);

function nextReply<T extends WorkerReply['type']>(worker: Worker, type: T) {
  return new Promise<Extract<WorkerReply, { type: T }>>((resolve, reject) => {
    const onMessage = (message: WorkerReply) => {
      if (message.type !== type) return;
      worker.off('message', onMessage);
      worker.off('error', reject);
      resolve(message as Extract<WorkerReply, { type: T }>);
    };
    worker.on('message', onMessage);
    worker.once('error', reject);
  });
}

/**
 * Opens `subscribers` SSE streams from `threads` worker threads (subscriber i on thread i mod
 * threads), so receiving and parsing never delays the thread that sends trades and stamps their
 * answers; resolves once every stream has its response headers (or failed). A lean client: raw
 * node:http on a keep-alive agent and the byte-level SseParser, no EventSource library.
 */
export async function openSubscribers(options: {
  url: string;
  subscribers: SubscriberSpec[];
  threads: number;
  /** Streams each thread opens at once (a burst of 1,000 connects can overflow the listen backlog). */
  connectConcurrency?: number;
}): Promise<Subscribers> {
  const threads = Math.max(1, Math.min(options.threads, options.subscribers.length));
  const shares = Array.from({ length: threads }, (_, t) =>
    options.subscribers.flatMap((s, i) => (i % threads === t ? [s] : [])),
  );
  const workers = shares.map(
    (subscribers) =>
      new Worker(WORKER, {
        workerData: {
          url: options.url,
          subscribers,
          connectConcurrency: options.connectConcurrency ?? 50,
          keepData: ['reset', 'end'],
        } satisfies WorkerInput,
      }),
  );
  const opened = await Promise.all(workers.map((w) => nextReply(w, 'opened')));
  return {
    ok: opened.reduce((sum, o) => sum + o.ok, 0),
    failures: opened.flatMap((o) => o.failures),
    async received() {
      const counts = await Promise.all(
        workers.map((w) => {
          const reply = nextReply(w, 'count');
          w.postMessage({ type: 'count' } satisfies WorkerRequest);
          return reply;
        }),
      );
      return counts.reduce((sum, c) => sum + c.received, 0);
    },
    async close() {
      const results = await Promise.all(
        workers.map((w) => {
          const reply = nextReply(w, 'results');
          w.postMessage({ type: 'close' } satisfies WorkerRequest);
          return reply;
        }),
      );
      await Promise.all(workers.map((w) => w.terminate()));
      // Back into the order of options.subscribers.
      const merged: SubscriberResult[] = new Array(options.subscribers.length);
      results.forEach(({ results: share }, t) => {
        share.forEach((r, j) => {
          merged[j * threads + t] = r;
        });
      });
      return merged;
    },
  };
}
