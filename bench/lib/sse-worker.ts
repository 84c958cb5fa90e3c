import { Agent, request } from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';
import { SseParser } from './sse-parser.ts';
import type { SubscriberResult, WorkerInput, WorkerReply, WorkerRequest } from './sse-subscribers.ts';

/**
 * One thread of SSE subscribers (see sse-subscribers.ts): opens its streams, stamps every event
 * with the wall-clock millisecond it arrived (performance.timeOrigin + now(), comparable across
 * threads and with the trade sender), and hands the record back when told to close.
 */
const { url, subscribers, connectConcurrency, keepData } = workerData as WorkerInput;
const clock = () => performance.timeOrigin + performance.now();
const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
const { hostname, port } = new URL(url);

class Subscriber {
  ids = new Float64Array(1024);
  times = new Float64Array(1024);
  count = 0;
  others: SubscriberResult['others'] = [];
  status: number | undefined;
  error: string | undefined;
  closedByServer = false;
  now = 0;
  parser = new SseParser((event) => {
    if (event.type === 'trade.created') return this.record(event.id);
    this.others.push({ type: event.type, id: event.id, data: event.data, at: this.now });
  }, keepData);
  req: ReturnType<typeof request> | undefined;

  record(id: number) {
    if (this.count === this.ids.length) {
      const grow = (a: Float64Array) => {
        const b = new Float64Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.ids = grow(this.ids);
      this.times = grow(this.times);
    }
    this.ids[this.count] = id;
    this.times[this.count] = this.now;
    this.count++;
  }

  open(path: string, headers: Record<string, string>): Promise<void> {
    return new Promise((resolve) => {
      const req = request(
        { agent, hostname, port, path, headers: { accept: 'text/event-stream', ...headers } },
        (res) => {
          this.status = res.statusCode;
          if (res.statusCode !== 200) {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => {
              body += chunk;
            });
            res.on('end', () => {
              this.error = body.slice(0, 500);
              resolve();
            });
            return;
          }
          res.on('data', (chunk: Buffer) => {
            this.now = clock();
            this.parser.push(chunk);
          });
          res.on('end', () => {
            this.closedByServer = true;
          });
          res.on('error', () => {});
          resolve();
        },
      );
      req.on('error', (error) => {
        this.error ??= error.message;
        resolve();
      });
      req.end();
      this.req = req;
    });
  }
}

const open = subscribers.map(() => new Subscriber());
let next = 0;
await Promise.all(
  Array.from({ length: Math.min(connectConcurrency, subscribers.length) }, async () => {
    while (next < subscribers.length) {
      const i = next++;
      await open[i]!.open(subscribers[i]!.path, subscribers[i]!.headers ?? {});
    }
  }),
);
const reply = (message: WorkerReply, transfer: ArrayBuffer[] = []) =>
  parentPort!.postMessage(message, transfer);
reply({
  type: 'opened',
  ok: open.filter((s) => s.status === 200).length,
  failures: open.flatMap((s, i) =>
    s.status === 200 ? [] : [{ path: subscribers[i]!.path, status: s.status, error: s.error }],
  ),
});

parentPort!.on('message', (message: WorkerRequest) => {
  if (message.type === 'count') {
    reply({ type: 'count', received: open.reduce((sum, s) => sum + s.count, 0) });
    return;
  }
  for (const s of open) s.req?.destroy();
  agent.destroy();
  const results: SubscriberResult[] = open.map((s, i) => ({
    path: subscribers[i]!.path,
    status: s.status,
    error: s.error,
    ids: s.ids.slice(0, s.count),
    times: s.times.slice(0, s.count),
    others: s.others,
    comments: s.parser.comments,
    closedByServer: s.closedByServer,
  }));
  reply(
    { type: 'results', results },
    results.flatMap((r) => [r.ids.buffer as ArrayBuffer, r.times.buffer as ArrayBuffer]),
  );
  parentPort!.close();
});
