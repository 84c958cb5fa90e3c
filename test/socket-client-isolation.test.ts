import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import pg from 'pg';
import { isolateSocketClients } from '../src/db/socket-client-isolation.ts';

/** Resolves to 'pending' when `promise` has not settled within `ms`. */
const settledWithin = (promise: Promise<unknown>, ms: number) =>
  Promise.race([
    promise.then(() => 'settled'),
    new Promise((resolve) => setTimeout(() => resolve('pending'), ms)),
  ]);

// The server's PGlite shared with a script over the Unix socket, as `npm start` does it.
describe('PGlite shared over the socket: a script and the app never share a transaction', () => {
  let dir: string;
  let pglite: PGlite;
  let server: PGLiteSocketServer;
  const script = () => new pg.Client({ host: dir, user: 'postgres', database: 'postgres' });
  const values = async () =>
    (await pglite.query<{ v: string }>('select v from notes order by v')).rows.map((r) => r.v);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pglite-socket-'));
    pglite = await PGlite.create();
    await pglite.exec('create table notes (v text)');
    server = new PGLiteSocketServer({
      db: isolateSocketClients(pglite),
      path: join(dir, '.s.PGSQL.5432'),
      maxConnections: 4,
    });
    await server.start();
  });
  after(async () => {
    await server.stop();
    await pglite.close();
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(() => pglite.exec('truncate notes'));

  test("the app waits while a script's transaction is open; the script's ROLLBACK undoes only its own work", async () => {
    const client = script();
    await client.connect();
    try {
      await client.query('begin');
      await client.query(`insert into notes values ('script')`);
      const app = pglite.transaction(async (tx) => {
        await tx.query(`insert into notes values ('app')`);
      });
      assert.equal(await settledWithin(app, 300), 'pending');
      await client.query('rollback');
      await app;
      assert.deepEqual(await values(), ['app']);
    } finally {
      await client.end();
    }
  });

  test("a script's statement never lands inside an app transaction that then rolls back", async () => {
    const client = script();
    await client.connect();
    try {
      const gate = Promise.withResolvers<void>();
      const app = pglite.transaction(async (tx) => {
        await tx.query(`insert into notes values ('app')`);
        await gate.promise; // the script's statement arrives here, between two app statements
        throw new Error('the app changes its mind');
      });
      const scriptInsert = client.query(`insert into notes values ('script')`);
      assert.equal(await settledWithin(scriptInsert, 200), 'pending');
      gate.resolve();
      await assert.rejects(app, /changes its mind/);
      await scriptInsert;
      assert.deepEqual(await values(), ['script']);
    } finally {
      await client.end();
    }
  });

  test('a script that disconnects mid-transaction is rolled back and the app goes on', async () => {
    const client = script();
    await client.connect();
    await client.query('begin');
    await client.query(`insert into notes values ('abandoned')`);
    const app = pglite.query(`insert into notes values ('app')`);
    assert.equal(await settledWithin(app, 200), 'pending');
    await client.end();
    await app;
    assert.deepEqual(await values(), ['app']);
  });

  test('two scripts still take turns with their transactions', async () => {
    const [a, b] = [script(), script()];
    await Promise.all([a.connect(), b.connect()]);
    try {
      await a.query('begin');
      await a.query(`insert into notes values ('a')`);
      const bInsert = b.query(`insert into notes values ('b')`);
      assert.equal(await settledWithin(bInsert, 200), 'pending');
      await a.query('rollback');
      await bInsert;
      assert.deepEqual(await values(), ['b']);
    } finally {
      await Promise.all([a.end(), b.end()]);
    }
  });
});
