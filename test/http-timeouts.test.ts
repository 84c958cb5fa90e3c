import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Fastify from 'fastify';
import { configWith } from '../src/config/env.ts';
import { connectionLimitsOptions } from '../src/plugins/connection-limits.ts';
import { type Cluster, type Instance, startInstances } from './helpers/instances.ts';
import { openSocket, parseResponse } from './helpers/raw-http.ts';

const ENVELOPE_KEYS = ['success', 'error', 'code', 'requestId'];

describe('time limits on every connection', () => {
  let cluster: Cluster;
  let app: Instance;
  before(async () => {
    cluster = await startInstances('pglite', 1, {
      REQUEST_TIMEOUT_MS: '2000',
      HEADERS_TIMEOUT_MS: '1000',
      KEEP_ALIVE_TIMEOUT_MS: '1000',
      MAX_REQUESTS_PER_SOCKET: '3',
    });
    app = cluster.instances[0]!;
  });
  after(() => cluster.close());

  test('a client that sends its body one byte at a time is answered 408 in the envelope and cut off', async () => {
    const slow = await Promise.all(Array.from({ length: 5 }, () => openSocket(app.url)));
    for (const conn of slow) {
      await conn.write(
        'POST /api/auth/login HTTP/1.1\r\nHost: localhost\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n{',
      );
    }
    // One byte every 300 ms would keep the request alive forever without a request timeout.
    const drip = setInterval(() => {
      for (const conn of slow) void conn.write(' ');
    }, 300);
    try {
      const closed = await Promise.all(slow.map((conn) => conn.closedWithin(10_000)));
      for (const [i, ms] of closed.entries()) {
        assert.ok(ms !== undefined, `connection ${i} still open after 10 s`);
        assert.ok(ms >= 1500, `cut off after ${ms} ms, not before its 2 s budget`);
        const res = parseResponse(slow[i]!.received());
        assert.equal(res.status, 408);
        const body = JSON.parse(res.body);
        assert.deepEqual(Object.keys(body).sort(), [...ENVELOPE_KEYS].sort());
        assert.equal(body.code, 'REQUEST_TIMEOUT');
        assert.equal(body.requestId, res.headers['x-request-id']);
      }
    } finally {
      clearInterval(drip);
    }
  });

  test('a client that trickles its headers (slowloris) is cut off after HEADERS_TIMEOUT_MS', async () => {
    const conn = await openSocket(app.url);
    await conn.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n');
    const drip = setInterval(() => void conn.write('x-slow: 1\r\n'), 200);
    try {
      const ms = await conn.closedWithin(8000);
      assert.ok(ms !== undefined, 'still open after 8 s');
      assert.equal(parseResponse(conn.received()).status, 408);
    } finally {
      clearInterval(drip);
    }
  });

  test('an idle keep-alive connection is closed after KEEP_ALIVE_TIMEOUT_MS', async () => {
    const conn = await openSocket(app.url);
    await conn.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n');
    const ms = await conn.closedWithin(8000);
    assert.ok(ms !== undefined, 'still open after 8 s');
    assert.equal(parseResponse(conn.received()).status, 200);
  });

  test('one connection carries at most MAX_REQUESTS_PER_SOCKET requests', async () => {
    const conn = await openSocket(app.url);
    await conn.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n'.repeat(3));
    assert.ok((await conn.closedWithin(8000)) !== undefined, 'still open after 8 s');
    const statuses = [...conn.received().matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
    assert.deepEqual(statuses, ['200', '200', '200']);
    const last = conn.received().slice(conn.received().lastIndexOf('HTTP/1.1'));
    assert.match(last, /^connection: close/im, 'the last one says so');
  });
});

describe('connection limits: defaults and configuration', () => {
  test('out of the box every timeout is set (Node and Fastify default most of them to "never")', async () => {
    // The options buildApp passes to Fastify, on a bare Fastify: what reaches Node's server.
    const app = Fastify(connectionLimitsOptions(configWith({})));
    try {
      const server = app.server;
      assert.equal(server.requestTimeout, 30_000);
      assert.equal(server.headersTimeout, 10_000);
      assert.equal(server.timeout, 60_000);
      assert.equal(server.keepAliveTimeout, 72_000);
      assert.equal(server.maxRequestsPerSocket, 1000);
    } finally {
      await app.close();
    }
  });

  test('a headers timeout longer than the request timeout is refused at start', () => {
    assert.throws(
      () => configWith({ REQUEST_TIMEOUT_MS: '5000', HEADERS_TIMEOUT_MS: '6000' }),
      /HEADERS_TIMEOUT_MS/,
    );
  });
});
