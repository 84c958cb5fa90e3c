import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Cluster, type Instance, startInstances } from './helpers/instances.ts';
import { type RawResponse, rawExchange } from './helpers/raw-http.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The failure envelope, with the same request id in the body and in x-request-id. */
function assertEnvelope(res: RawResponse, status: number, code: string) {
  assert.equal(res.status, status, JSON.stringify(res));
  assert.match(res.headers['content-type'] ?? '', /^application\/json/);
  assert.match(res.headers['x-request-id'] ?? '', /\S/);
  assert.equal(res.headers['x-content-type-options'], 'nosniff');
  const body = JSON.parse(res.body);
  assert.deepEqual(Object.keys(body).sort(), ['code', 'error', 'requestId', 'success']);
  assert.equal(body.success, false);
  assert.equal(body.code, code);
  assert.equal(body.requestId, res.headers['x-request-id']);
  return body;
}

// Sent as bytes over node:net: fetch and inject cannot send what a hostile client sends.
describe('framework refusals over raw sockets answer in the envelope, with a request id', () => {
  let cluster: Cluster;
  let app: Instance;
  before(async () => {
    cluster = await startInstances('pglite', 1, {});
    app = cluster.instances[0]!;
  });
  after(() => cluster.close());
  const send = (raw: string) => rawExchange(app.url, raw);
  const big = `x-big: ${'a'.repeat(20_000)}\r\n`;

  test('headers over the size limit: 431 HEADERS_TOO_LARGE, logged with its request id', async () => {
    const res = await send(`GET /api/markets HTTP/1.1\r\nHost: localhost\r\n${big}\r\n`);
    const body = assertEnvelope(res, 431, 'HEADERS_TOO_LARGE');
    assert.match(body.requestId, UUID);
    const line = app.logs.find((l) => l.requestId === body.requestId);
    assert.equal(line?.status, 431);
  });

  test('a HEAD request refused with 431 gets headers only, no body', async () => {
    const res = await send(`HEAD /api/markets HTTP/1.1\r\nHost: localhost\r\n${big}\r\n`);
    assert.equal(res.status, 431);
    assert.match(res.headers['x-request-id'] ?? '', UUID);
    assert.equal(res.body, '');
  });

  for (const [name, raw] of [
    ['a NUL byte in a header name', 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nx-bad\u0000: 1\r\n\r\n'],
    ['a control byte in the request line', 'GET /hea\u0001lthz HTTP/1.1\r\nHost: localhost\r\n\r\n'],
    ['a bare LF as line ending', 'GET /healthz HTTP/1.1\nHost: localhost\n\n'],
    [
      'both Content-Length and Transfer-Encoding (request smuggling)',
      'POST /api/auth/login HTTP/1.1\r\nHost: localhost\r\ncontent-type: application/json\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n',
    ],
    [
      'a chunk size that is not hexadecimal',
      'POST /api/auth/login HTTP/1.1\r\nHost: localhost\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
    ],
    ['not HTTP at all', 'HELLO THERE\r\n\r\n'],
  ] as const) {
    test(`${name}: 400 BAD_REQUEST and the connection is closed`, async () => {
      assertEnvelope(await send(raw), 400, 'BAD_REQUEST');
    });
  }

  test('an Expect header other than 100-continue: 417 EXPECTATION_FAILED, echoing a sane x-request-id', async () => {
    const res = await send(
      'GET /api/markets HTTP/1.1\r\nHost: localhost\r\nexpect: 200-ok\r\nx-request-id: expect-1\r\nconnection: close\r\n\r\n',
    );
    const body = assertEnvelope(res, 417, 'EXPECTATION_FAILED');
    assert.equal(body.requestId, 'expect-1');
  });

  test('an HTTP/1.1 request without Host: 400 in the envelope; HTTP/1.0 needs none', async () => {
    const res = await send('GET /healthz HTTP/1.1\r\nconnection: close\r\n\r\n');
    const body = assertEnvelope(res, 400, 'BAD_REQUEST');
    assert.match(body.error, /Host/);
    const old = await send('GET /healthz HTTP/1.0\r\n\r\n');
    assert.equal(old.status, 200);
  });

  test('the server still serves after every refusal', async () => {
    const res = await fetch(`${app.url}/healthz`);
    assert.equal(res.status, 200);
  });
});
