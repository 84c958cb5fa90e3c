import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import { describe, test } from 'node:test';
import { type ParsedEvent, SseParser } from '../bench/lib/sse-parser.ts';
import { openSubscribers } from '../bench/lib/sse-subscribers.ts';

const STREAM = [
  ': ping\n\n',
  'id: 7\nevent: trade.created\ndata: {"trade":{"id":"a"},"market":{"name":"Ünïcode"}}\n\n',
  'id: 8\r\nevent: trade.created\r\ndata: {"trade":{"id":"b"}}\r\n\r\n',
  'id: 9\nevent: reset\ndata: {"reason":"too old",\ndata: "lastSeq":9}\n\n',
  'event: end\ndata: {"reason":"shutting down"}\n\n',
].join('');

function parseAll(chunks: Buffer[]) {
  const events: ParsedEvent[] = [];
  const parser = new SseParser((e) => events.push(e), ['reset', 'end']);
  for (const chunk of chunks) parser.push(chunk);
  return { events, comments: parser.comments };
}

const EXPECTED: ParsedEvent[] = [
  { id: 7, type: 'trade.created', data: undefined },
  { id: 8, type: 'trade.created', data: undefined },
  { id: 9, type: 'reset', data: '{"reason":"too old",\n"lastSeq":9}' },
  { id: Number.NaN, type: 'end', data: '{"reason":"shutting down"}' },
];

/** The bench's SSE client (bench/lib): its counts of lost events rest on parsing every event. */
describe('bench SSE client', () => {
  test('parses the same events whether the stream arrives whole or one byte at a time', () => {
    const bytes = Buffer.from(STREAM);
    const whole = parseAll([bytes]);
    const byByte = parseAll([...bytes].map((b) => Buffer.from([b])));
    assert.deepEqual(whole.events, EXPECTED);
    assert.deepEqual(byByte.events, EXPECTED);
    assert.equal(whole.comments, 1);
    assert.equal(byByte.comments, 1);
  });

  test('subscribers on worker threads record every id their stream sent, and report refusals', async () => {
    const streams: ServerResponse[] = [];
    const server = createServer((req, res) => {
      if (req.url === '/refused') {
        res.writeHead(429, { 'content-type': 'application/json' }).end('{"success":false}');
        return;
      }
      assert.equal(req.headers['last-event-id'], '41');
      // As the app's streams: not chunked, the body ends with the connection.
      res.useChunkedEncodingByDefault = false;
      res.writeHead(200, { 'content-type': 'text/event-stream' }).flushHeaders();
      streams.push(res);
    }).listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    try {
      const subscribers = await openSubscribers({
        url: `http://127.0.0.1:${port}`,
        subscribers: [
          ...Array.from({ length: 5 }, () => ({ path: '/stream', headers: { 'last-event-id': '41' } })),
          { path: '/refused' },
        ],
        threads: 2,
      });
      assert.equal(subscribers.ok, 5);
      assert.deepEqual(
        subscribers.failures.map((f) => f.status),
        [429],
      );
      for (let seq = 42; seq < 142; seq++)
        for (const res of streams) res.write(`id: ${seq}\nevent: trade.created\ndata: {"n":${seq}}\n\n`);
      while ((await subscribers.received()) < 500) await new Promise((resolve) => setTimeout(resolve, 20));
      const results = await subscribers.close();
      assert.equal(results.length, 6);
      const want = Array.from({ length: 100 }, (_, i) => 42 + i);
      for (const r of results.slice(0, 5)) {
        assert.equal(r.status, 200);
        assert.deepEqual([...r.ids], want);
        assert.equal(r.times.length, 100);
      }
      assert.equal(results[5]!.status, 429);
    } finally {
      for (const res of streams) res.destroy();
      server.close();
    }
  });
});
