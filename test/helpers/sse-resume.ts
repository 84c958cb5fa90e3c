import { setTimeout as sleep } from 'node:timers/promises';
import { openSse, type SseClient } from './sse-client.ts';

/**
 * A subscriber that behaves like a browser's EventSource: when the server ends the stream (an
 * instance draining says `event: end`) or the connection drops, it reconnects after the `retry:`
 * the server advised, sending `Last-Event-ID`, and keeps the ids of every event it received.
 */
export function resumingSubscriber(url: string, lastEventId: number) {
  const ids: string[] = [];
  const refusals: string[] = [];
  let reconnects = 0;
  let closed = false;
  let current: SseClient | undefined;
  let last = String(lastEventId);
  let connected!: () => void;
  const connectedOnce = new Promise<void>((resolve) => {
    connected = resolve;
  });
  const loop = (async () => {
    while (!closed) {
      let retry = 500;
      try {
        const client = await openSse(url, { 'last-event-id': last });
        current = client;
        if (client.status !== 200) refusals.push(`${client.status} ${client.body.slice(0, 200)}`);
        else {
          connected();
          let seen = 0;
          const take = () => {
            for (; seen < client.events.length; seen++) {
              const event = client.events[seen]!;
              if (event.id !== undefined && event.event !== 'end') {
                ids.push(event.id);
                last = event.id;
              }
            }
          };
          const timer = setInterval(take, 20);
          await client.ended;
          clearInterval(timer);
          take();
          retry = client.retry ?? retry;
        }
      } catch (error) {
        refusals.push(String((error as Error).message));
      }
      if (closed) break;
      reconnects++;
      await sleep(retry);
    }
  })();
  return {
    connected: connectedOnce,
    ids: () => ids.slice(),
    reconnects: () => reconnects,
    refusals: () => refusals.slice(),
    close() {
      closed = true;
      current?.close();
      return loop;
    },
  };
}
