import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createLogger, REDACTED } from '../src/lib/logger.ts';

/** The fields these tests log. */
interface Line {
  msg: string;
  headers?: unknown;
  body?: unknown;
  items?: unknown;
  attempt?: number;
  err?: { type: string; message: string; stack: string; code: string; secret: string };
  node?: { name: string; password: string };
}

/** The service's logger writing into an array of parsed lines. */
function capture(level = 'info') {
  const lines: Line[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { log: createLogger(level, { destination: sink }), lines };
}

test('secrets are censored at any depth of a logged object, and the caller’s object is untouched', () => {
  const { log, lines } = capture();
  const headers = { authorization: 'Bearer eyJ.secret.sig', 'x-api-key': 'mk_live_abc', accept: 'json' };
  const body = { email: 'a@example.com', password: 'hunter22', nested: { refreshToken: 'r-1' } };
  const items = [{ token: 't-1', id: 1 }, { id: 2 }];
  log.info({ headers, body, items, attempt: 3 }, 'logged with secrets');

  const line = lines[0]!;
  assert.deepEqual(line.headers, { authorization: REDACTED, 'x-api-key': REDACTED, accept: 'json' });
  assert.deepEqual(line.body, {
    email: 'a@example.com',
    password: REDACTED,
    nested: { refreshToken: REDACTED },
  });
  assert.deepEqual(line.items, [{ token: REDACTED, id: 1 }, { id: 2 }]);
  assert.equal(line.attempt, 3);
  const text = JSON.stringify(lines);
  for (const secret of ['eyJ.secret.sig', 'mk_live_abc', 'hunter22', 'r-1', 't-1']) {
    assert.ok(!text.includes(secret), secret);
  }
  // The objects the code still holds keep their values.
  assert.equal(headers.authorization, 'Bearer eyJ.secret.sig');
  assert.equal(body.password, 'hunter22');
  assert.equal(body.nested.refreshToken, 'r-1');
  assert.equal(items[0]!.token, 't-1');
});

test('an error carrying a secret is still logged as an error, with message and stack', () => {
  const { log, lines } = capture();
  const error = Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED', secret: 's3cr3t' });
  log.error({ err: error }, 'it failed');

  const err = lines[0]!.err!;
  assert.equal(err.type, 'Error');
  assert.equal(err.message, 'connection refused');
  assert.match(err.stack, /^Error: connection refused\n/);
  assert.equal(err.code, 'ECONNREFUSED');
  assert.equal(err.secret, REDACTED);
  assert.equal(error.secret, 's3cr3t');
});

test('a cyclic object is logged without hanging, and the level filters lines', () => {
  const { log, lines } = capture('warn');
  const node: Record<string, unknown> = { name: 'loop', password: 'p' };
  node.self = node;
  log.info({ node }, 'dropped by the level');
  log.warn({ node }, 'kept');
  assert.equal(lines.length, 1);
  assert.equal(lines[0]!.msg, 'kept');
  assert.equal(lines[0]!.node!.password, REDACTED);
  assert.equal(lines[0]!.node!.name, 'loop');
});
