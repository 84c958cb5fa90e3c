import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** Why a stream ended, as its `end` event says. */
export type EndReason = 'shutting-down' | 'slow-consumer' | 'database-unavailable';

/** An event as it goes on the wire, framed and encoded once for every subscriber. */
export interface FramedEvent {
  seq: number;
  marketId: string | null;
  frame: Buffer;
}

/**
 * `id:`, `event:` and `data:` lines, as UTF-8 bytes: a thousand subscribers' writes do not encode
 * the same text a thousand times. The payload is JSON text, which never holds a raw newline.
 */
export function frameEvent(event: { seq: number; type: string; payload: string }): Buffer {
  return Buffer.from(`id: ${event.seq}\nevent: ${event.type}\ndata: ${event.payload}\n\n`);
}

/** After an `end`, a client that has not taken it within this long is cut (it is not reading). */
const END_GRACE_MS = 2000;

export interface SseStreamOptions {
  /** Unsent bytes past which the client is cut off. */
  maxBufferBytes: number;
  /** Sent as `retry:` (the client's reconnection delay). */
  retryMs: number;
}

/**
 * One open text/event-stream response. Every write is a whole frame. The backlog (what the socket
 * has not yet handed to the kernel) is bounded: a client that stops reading gets an `end` event
 * with the reason `slow-consumer` once it passes maxBufferBytes, and its socket is destroyed if it
 * does not take even that, so a subscriber costs at most maxBufferBytes plus a frame.
 *
 * The body is not chunked: it ends when the connection closes (`Connection: close`, which a
 * stream does anyway), so each frame goes to the socket as it is, one write of the bytes the hub
 * encoded once, instead of the response's chunk header, data and trailer per subscriber.
 */
export class SseStream {
  #res: ServerResponse;
  #socket: Socket;
  #options: SseStreamOptions;
  #closed = false;
  readonly #onClose: (() => void)[] = [];

  constructor(
    res: ServerResponse,
    headers: Record<string, string | string[] | number>,
    options: SseStreamOptions,
  ) {
    this.#res = res;
    this.#socket = res.socket as Socket;
    this.#options = options;
    res.useChunkedEncodingByDefault = false;
    res.writeHead(200, {
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      // nginx and similar proxies would otherwise buffer the stream.
      'x-accel-buffering': 'no',
    });
    res.on('close', () => this.#close());
    res.write(`retry: ${options.retryMs}\n\n`);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Whether the backlog is past the limit (the caller should wait for room or cut the client off). */
  get full(): boolean {
    return this.#res.writableLength > this.#options.maxBufferBytes;
  }

  onClose(listener: () => void): void {
    if (this.#closed) listener();
    else this.#onClose.push(listener);
  }

  /** Writes one frame; past the backlog limit, ends the stream instead. False when it is (now) ended. */
  send(frame: string | Buffer): boolean {
    if (this.#closed || this.#res.writableEnded) return false;
    if (this.full) {
      this.end('slow-consumer');
      return false;
    }
    this.#socket.write(frame);
    return true;
  }

  ping(): void {
    if (!this.#closed && !this.#res.writableEnded && !this.full) this.#socket.write(': ping\n\n');
  }

  /** Resolves true once the backlog is under the limit, false if the stream closed or `ms` passed first. */
  async room(ms: number): Promise<boolean> {
    if (!this.full) return !this.#closed;
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.#socket.off('drain', onDrain);
        this.#res.off('close', onGone);
        resolve(ok);
      };
      const onDrain = () => done(!this.#closed);
      const onGone = () => done(false);
      const timer = setTimeout(() => done(false), ms);
      this.#socket.on('drain', onDrain);
      this.#res.on('close', onGone);
    });
  }

  /** Sends `event: end` with the reason (and a `retry:` hint), then ends the response. */
  end(reason: EndReason): void {
    if (this.#closed || this.#res.writableEnded) return;
    this.#res.end(`retry: ${this.#options.retryMs}\nevent: end\ndata: ${JSON.stringify({ reason })}\n\n`);
    // A client that does not read never takes the end either: cut it rather than keep its backlog.
    const cut = setTimeout(() => this.#res.destroy(), END_GRACE_MS);
    cut.unref();
    this.#res.once('close', () => clearTimeout(cut));
    // Subscribers leave the hub at once, not when the socket is finally gone.
    this.#close();
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const listener of this.#onClose.splice(0)) listener();
  }
}
