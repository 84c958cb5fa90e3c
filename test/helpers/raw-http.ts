import { connect, type Socket } from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Milliseconds from the first byte sent until the server closed the connection. */
  closedAfterMs: number;
}

/** Parses the first response in what a socket received (enough for the refusals tested here). */
export function parseResponse(raw: string): Omit<RawResponse, 'closedAfterMs'> {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) throw new Error(`no complete response in ${JSON.stringify(raw.slice(0, 200))}`);
  const [statusLine, ...lines] = raw.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(statusLine!.split(' ')[1]), headers, body: raw.slice(end + 4) };
}

/** A connection to host:port of a `http://host:port` URL, with everything it receives kept. */
export async function openSocket(url: string) {
  const { hostname, port } = new URL(url);
  const socket: Socket = connect({ host: hostname, port: Number(port) });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const started = performance.now();
  let received = '';
  socket.on('data', (chunk) => {
    received += chunk.toString('latin1');
  });
  socket.on('error', () => {}); // a reset after the server cut us off is the point of some tests
  const closed = new Promise<number>((resolve) =>
    socket.once('close', () => resolve(performance.now() - started)),
  );
  return {
    socket,
    received: () => received,
    /** Resolves with the elapsed ms when the server closes, or undefined after `withinMs`. */
    closedWithin: (withinMs: number) =>
      Promise.race([closed, new Promise<undefined>((r) => setTimeout(() => r(undefined), withinMs).unref())]),
    write: (data: string | Buffer) =>
      new Promise<void>((resolve) => {
        if (socket.destroyed) return resolve();
        socket.write(data, () => resolve());
      }),
  };
}

/** Sends `data` on a fresh connection and waits (at most `withinMs`) for the server to close it. */
export async function rawExchange(
  url: string,
  data: string | Buffer,
  withinMs = 10_000,
): Promise<RawResponse> {
  const conn = await openSocket(url);
  await conn.write(data);
  const closedAfterMs = await conn.closedWithin(withinMs);
  conn.socket.destroy();
  if (closedAfterMs === undefined) throw new Error(`the server kept the connection open for ${withinMs} ms`);
  return { ...parseResponse(conn.received()), closedAfterMs };
}
