import http from 'node:http';

export interface SseEvent {
  id: string | undefined;
  event: string;
  data: string;
}

export interface SseClient {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The body when the answer was not a stream (an error envelope). */
  body: string;
  events: SseEvent[];
  comments: string[];
  /** The last `retry:` the server sent (ms). */
  retry: number | undefined;
  /** Resolves once `count` events (not comments) have arrived in all; rejects after `ms`. */
  waitFor(count: number, ms?: number): Promise<SseEvent[]>;
  /** Resolves when the server has ended the response. */
  ended: Promise<void>;
  close(): void;
}

/**
 * A minimal EventSource over node:http (real HTTP, no reconnection): parses `id:`, `event:`,
 * `data:` and comment lines as the spec says. Resolves once the status and headers are in.
 */
export function openSse(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      const events: SseEvent[] = [];
      const comments: string[] = [];
      const waiters: { count: number; resolve: () => void }[] = [];
      let buffer = '';
      let body = '';
      let current: Partial<SseEvent> & { data?: string } = {};
      const isStream = String(res.headers['content-type']).startsWith('text/event-stream');
      res.setEncoding('utf8');
      const ended = new Promise<void>((done) => {
        res.on('end', done);
        res.on('close', done);
        res.on('error', done);
      });
      res.on('data', (chunk: string) => {
        if (!isStream) {
          body += chunk;
          return;
        }
        buffer += chunk;
        let nl = buffer.indexOf('\n');
        while (nl >= 0) {
          const line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + 1);
          if (line === '') {
            if (current.data !== undefined) {
              events.push({ id: current.id, event: current.event ?? 'message', data: current.data });
            }
            current = {};
          } else if (line.startsWith(':')) comments.push(line.slice(1).trim());
          else {
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
            if (field === 'data')
              current.data = current.data === undefined ? value : `${current.data}\n${value}`;
            else if (field === 'id') current.id = value;
            else if (field === 'event') current.event = value;
            else if (field === 'retry') client.retry = Number(value);
          }
          nl = buffer.indexOf('\n');
        }
        for (const w of [...waiters]) {
          if (events.length >= w.count) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve();
          }
        }
      });
      const client: SseClient = {
        status: res.statusCode ?? 0,
        headers: res.headers,
        get body() {
          return body;
        },
        events,
        comments,
        retry: undefined,
        ended,
        waitFor(count, ms = 10_000) {
          if (events.length >= count) return Promise.resolve(events.slice());
          return new Promise((done, fail) => {
            const timer = setTimeout(
              () =>
                fail(
                  new Error(
                    `${events.length} of ${count} events after ${ms} ms: ${JSON.stringify(events.map((e) => [e.id, e.event]))}`,
                  ),
                ),
              ms,
            );
            waiters.push({
              count,
              resolve: () => {
                clearTimeout(timer);
                done(events.slice());
              },
            });
          });
        },
        close: () => req.destroy(),
      };
      if (!isStream) res.on('end', () => resolve(client));
      else resolve(client);
    });
    req.on('error', reject);
  });
}
