import { Agent, request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

export interface TimedTrade {
  marketId: string;
  status: number | undefined;
  /** Wall-clock ms (performance.timeOrigin + performance.now()): when the request was due and sent. */
  sentAt: number;
  /** When its whole answer had arrived (the 201 comes after the commit: an upper bound of it). */
  answeredAt: number;
  /** From the 201's body. */
  tradeId: string | undefined;
  /** The trade's createdAt (PostgreSQL's clock_timestamp() at its insert, before the commit), ms. */
  createdAt: number | undefined;
}

const clock = () => performance.timeOrigin + performance.now();

/**
 * Trades at a steady rate, open loop as in constant-rate.ts (trade i is sent at start + i/rate
 * whatever happened before), each stamped when sent and when its answer arrived.
 */
export async function runTimedTrades(options: {
  url: string;
  rate: number;
  durationSeconds: number;
  connections: number;
  trade: (i: number) => { marketId: string; auth: string; body: unknown };
}): Promise<TimedTrade[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections });
  const { hostname, port } = new URL(options.url);
  const done: Promise<TimedTrade>[] = [];
  const send = (i: number): Promise<TimedTrade> => {
    const { marketId, auth, body } = options.trade(i);
    const payload = JSON.stringify(body);
    return new Promise((resolve) => {
      const sentAt = clock();
      const req = request(
        {
          agent,
          hostname,
          port,
          method: 'POST',
          path: `/api/markets/${marketId}/trades`,
          headers: {
            authorization: auth,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(payload),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const answeredAt = clock();
            let tradeId: string | undefined;
            let createdAt: number | undefined;
            if (res.statusCode === 201) {
              const trade = (
                JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
                  data: { trade: { id: string; createdAt: string } };
                }
              ).data.trade;
              tradeId = trade.id;
              createdAt = Date.parse(trade.createdAt);
            }
            resolve({ marketId, status: res.statusCode, sentAt, answeredAt, tradeId, createdAt });
          });
        },
      );
      req.on('error', () =>
        resolve({
          marketId,
          status: undefined,
          sentAt,
          answeredAt: clock(),
          tradeId: undefined,
          createdAt: undefined,
        }),
      );
      req.end(payload);
    });
  };
  const total = Math.round(options.rate * options.durationSeconds);
  const interval = 1000 / options.rate;
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    const wait = start + i * interval - performance.now();
    if (wait >= 1) await sleep(Math.floor(wait));
    done.push(send(i));
  }
  const trades = await Promise.all(done);
  agent.destroy();
  return trades;
}
