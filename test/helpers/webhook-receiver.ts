import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedDelivery {
  headers: IncomingMessage['headers'];
  body: string;
  at: number;
  /** The sender's port: which process sent it (`ss -tnp sport = :<port>`). */
  remotePort: number | undefined;
}

export type ReceiverHandler = (delivery: ReceivedDelivery, res: ServerResponse, index: number) => void;

/**
 * A webhook receiver on loopback: a real HTTP server that records every request and answers
 * with `handler` (200 by default). The third party of the webhook tests.
 */
export async function startReceiver(handler?: ReceiverHandler, host = '127.0.0.1', port = 0) {
  const received: ReceivedDelivery[] = [];
  let respond: ReceiverHandler = handler ?? ((_d, res) => res.end('ok'));
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const delivery = {
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
        remotePort: req.socket.remotePort,
      };
      received.push(delivery);
      respond(delivery, res, received.length - 1);
    });
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  const { port: bound } = server.address() as AddressInfo;
  return {
    received,
    port: bound,
    url: `http://${host}:${bound}/hook`,
    /** Changes how later requests are answered. */
    answerWith(next: ReceiverHandler) {
      respond = next;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export type Receiver = Awaited<ReturnType<typeof startReceiver>>;
