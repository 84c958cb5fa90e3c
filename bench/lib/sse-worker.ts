import { connect, type Socket } from 'node:net';
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
const { hostname, port } = new URL(url);
/**
 * Every socket of this thread reads into this one buffer (net.connect's `onread`): no Buffer is
 * allocated and no stream event emitted per read. Safe because each read is handled at once,
 * and whatever outlives it (a cut line, a head, a refusal) is copied.
 */
const readBuffer = Buffer.allocUnsafe(256 * 1024);

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
  socket: Socket | undefined;

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

  /**
   * A GET over a plain TCP socket: the request written by hand, the status line and headers read
   * once, then every chunk of the body straight into the parser. node:http's response parser and
   * its stream per subscriber cost the bench more than the server spends writing the event, and
   * the receivers share the machine with the server they measure. The server's streams are not
   * chunked (they end with the connection), so the body is the event stream byte for byte.
   */
  open(path: string, headers: Record<string, string>): Promise<void> {
    return new Promise((resolve) => {
      const lines = Object.entries({ accept: 'text/event-stream', ...headers }).map(
        ([k, v]) => `${k}: ${v}\r\n`,
      );
      const socket = connect(
        {
          host: hostname,
          port: Number(port),
          onread: {
            buffer: readBuffer,
            callback: (nread) => {
              onBytes(readBuffer.subarray(0, nread));
              return true;
            },
          },
        },
        () => {
          socket.write(`GET ${path} HTTP/1.1\r\nhost: ${hostname}:${port}\r\n${lines.join('')}\r\n`);
        },
      );
      socket.setNoDelay(true);
      this.socket = socket;
      let head: Buffer | undefined = Buffer.alloc(0);
      let errorBody = Buffer.alloc(0);
      let errorLength = Number.POSITIVE_INFINITY;
      // A refusal (404, 429) is read up to its Content-Length: its envelope says why.
      const refused = (bytes: Buffer) => {
        errorBody = Buffer.concat([errorBody, bytes]);
        if (errorBody.length < errorLength) return;
        this.error = errorBody.toString('utf8').slice(0, 500);
        socket.destroy();
        resolve();
      };
      const onBytes = (chunk: Buffer) => {
        this.now = clock();
        if (head === undefined) {
          if (this.status === 200) this.parser.push(chunk);
          else refused(chunk);
          return;
        }
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        const text = head.subarray(0, end).toString('latin1');
        const body = head.subarray(end + 4);
        head = undefined;
        this.status = Number(text.slice(9, 12));
        if (this.status === 200 && /\r\ntransfer-encoding:\s*chunked/i.test(text)) {
          this.status = 0;
          this.error = 'the stream is chunked; this bench reads identity bodies only';
          socket.destroy();
          resolve();
        } else if (this.status === 200) {
          if (body.length > 0) this.parser.push(body);
          resolve();
        } else {
          errorLength = Number(/\r\ncontent-length:\s*(\d+)/i.exec(text)?.[1] ?? Number.POSITIVE_INFINITY);
          refused(body);
        }
      };
      socket.on('end', () => {
        if (this.status === 200) this.closedByServer = true;
      });
      socket.on('close', () => {
        if (this.status !== 200)
          this.error ??= errorBody.toString('utf8').slice(0, 500) || 'connection closed';
        resolve();
      });
      socket.on('error', (error) => {
        this.error ??= error.message;
        resolve();
      });
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
  for (const s of open) s.socket?.destroy();
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
