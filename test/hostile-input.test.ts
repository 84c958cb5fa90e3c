import assert from 'node:assert/strict';
import http, { validateHeaderValue } from 'node:http';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { SignJWT } from 'jose';
import { buildTestApp, TEST_JWT_SECRET, type TestApp } from './helpers/build-app.ts';
import { databaseKinds } from './helpers/databases.ts';
import {
  asText,
  forgedCursor,
  HOSTILE_STRINGS,
  hostileValue,
  type JsonSchema,
  mutatedObject,
  objectFor,
  RAW_BODIES,
  validValue,
  valueFor,
} from './helpers/hostile-values.ts';
import { createMarket, type TestUser, trade } from './helpers/trading.ts';

/**
 * Generated hostile input over every operation of /openapi.json: path ids, query parameters,
 * headers and bodies derived from each operation's schemas, pushed to and past their edges, as
 * nobody, as a user, as an admin and with forged credentials. Every answer must be below 500,
 * every 4xx the envelope with its requestId, none slower than 2 s, and nothing that matters may
 * change (see `state` for what that is and why).
 *
 * HOSTILE_INPUT_RUNS (default 10000): inputs per database, shared out over the operations.
 * HOSTILE_INPUT_SEED: replay a run (a failure prints its seed, and fast-check its path);
 * HOSTILE_INPUT_ONLY="POST /api/markets/{id}/trades": one operation; HOSTILE_INPUT_PATH: fast-check's path.
 */
const RUNS = Number(process.env.HOSTILE_INPUT_RUNS ?? 10_000);
const SEED = Number(process.env.HOSTILE_INPUT_SEED ?? Math.floor(Math.random() * 2 ** 31));
const ONLY = process.env.HOSTILE_INPUT_ONLY;
const MAX_ANSWER_MS = 2000;

interface Operation {
  parameters?: { in: string; name: string; schema: JsonSchema }[];
  requestBody?: { content: Record<string, { schema: JsonSchema }> };
  responses?: Record<string, { content?: Record<string, unknown> }>;
}

/** An operation that answers 200 with a stream that stays open (Server-Sent Events). */
const streams = (op: Operation) => op.responses?.['200']?.content?.['text/event-stream'] !== undefined;

interface Answer {
  statusCode: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json(): Record<string, unknown>;
}

/**
 * A stream never ends by itself, so inject() would wait forever: a stream operation goes over real
 * HTTP instead and counts as answered once its status, headers and first bytes are in (then the
 * client hangs up); a refusal is read whole, like any other answer.
 */
function overHttp(base: string, req: Generated): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = http.request(`${base}${req.url}`, { method: req.method, headers: req.headers }, (res) => {
      const isStream = String(res.headers['content-type']).startsWith('text/event-stream');
      let body = '';
      res.setEncoding('utf8');
      const done = () =>
        resolve({
          statusCode: res.statusCode ?? 0,
          headers: res.headers,
          body,
          json: () => JSON.parse(body),
        });
      res.on('data', (chunk: string) => {
        body += chunk;
        if (isStream) {
          request.destroy();
          done();
        }
      });
      res.on('end', done);
    });
    request.on('error', reject);
    request.end(req.payload);
  });
}
interface Spec {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, JsonSchema> };
}

type Identity = 'nobody' | 'user' | 'admin' | 'forged';
interface Generated {
  method: string;
  url: string;
  headers: Record<string, string>;
  payload: string | undefined;
}

const headerSafe = (name: string, value: string) => {
  try {
    validateHeaderValue(name, value);
    return true;
  } catch {
    return false;
  }
};

/** Most ids URL-encoded as a client would; URL-safe ones now and then raw (so %zz reaches the router). */
const pathSegment = (id: string, raw: boolean) =>
  raw && /^[\x21-\x7e]+$/.test(id) && !/[/?#]/.test(id) ? id : pct(id);

/** Percent-encoded UTF-8, as a client sends it (a lone surrogate becomes U+FFFD on the wire). */
const pct = (s: string) => encodeURIComponent(s.toWellFormed());

for (const kind of databaseKinds()) {
  describe(`generated hostile input: no 5xx, the envelope, fast, nothing changed (${kind})`, () => {
    let t: TestApp;
    let spec: Spec;
    let alice: TestUser;
    let active: { id: string; slug: string };
    let settled: { id: string; slug: string };
    const auth: Record<Exclude<Identity, 'nobody'>, fc.Arbitrary<Record<string, string>>> = {} as never;
    let knownIds: string[] = [];
    let existingEmails: string[] = [];
    let baseline: unknown;
    let base: string;

    /** A user with nothing to spend, so no generated trade or market creation can succeed. */
    async function penniless(role: 'user' | 'admin') {
      const row = await t.database.db
        .insertInto('users')
        .values({
          email: `hostile-${role}-${process.pid}@example.com`,
          name: `Hostile ${role}`,
          role,
          balance: 0,
        })
        .returning(['id', 'email'])
        .executeTakeFirstOrThrow();
      // At the 25-key cap: a well-formed key creation is refused rather than creating a row.
      await t.database.db
        .insertInto('apiKeys')
        .values(
          Array.from({ length: 25 }, (_, i) => ({
            userId: row.id,
            name: `key ${i}`,
            prefix: 'mk_live_x',
            keyHash: `${row.id}-${i}`,
            scopes: ['read'],
          })),
        )
        .execute();
      const token = await t.sign({ sub: row.id, email: row.email, role });
      return { ...row, authorization: `Bearer ${token}` };
    }

    /**
     * What no hostile request may change: every row of the tables that hold money, markets,
     * trades, positions, roles, keys, sessions and idempotency records, and the ledger. Users'
     * names are left out: PATCH /api/me with a well-formed name is a legitimate write the
     * generator makes by chance for the user it acts as. Everything else a generated request
     * could legitimately change is made impossible by the fixtures instead: the acting user and
     * admin have a balance of 0 (every trade and market creation is refused after validation) and
     * are at the API-key cap; the admin writes only to a resolved market or to ids that do not
     * exist; registrations reuse taken emails; no generated login knows a password.
     * pg-boss's tables are not compared: POST /api/admin/reindex queues jobs by design.
     */
    async function state() {
      const db = t.database.db;
      const [users, markets, trades, positions, apiKeys, refreshTokens, idempotencyKeys] = await Promise.all([
        db
          .selectFrom('users')
          .select(['id', 'email', 'role', 'balance', 'granted', 'passwordHash'])
          .orderBy('id')
          .execute(),
        db.selectFrom('markets').selectAll().orderBy('id').execute(),
        db.selectFrom('trades').selectAll().orderBy('id').execute(),
        db
          .selectFrom('positions')
          .selectAll()
          .orderBy('marketId')
          .orderBy('userId')
          .orderBy('outcome')
          .execute(),
        db.selectFrom('apiKeys').select(['id', 'name', 'revokedAt']).orderBy('id').execute(),
        db.selectFrom('refreshTokens').select(['id', 'usedAt', 'revokedAt']).orderBy('id').execute(),
        db.selectFrom('idempotencyKeys').selectAll().orderBy('userId').orderBy('key').execute(),
      ]);
      return { users, markets, trades, positions, apiKeys, refreshTokens, idempotencyKeys };
    }

    before(async () => {
      t = await buildTestApp(kind, {
        // Jobs queued by reindex stay queued: nothing runs behind the generated requests.
        WORKERS: 'false',
        PASSWORD_HASH_MEMORY_KIB: '64',
        PASSWORD_HASH_ITERATIONS: '1',
      });
      spec = (await t.request({ method: 'GET', url: '/openapi.json' })).json();
      base = await t.app.listen({ host: '127.0.0.1', port: 0 });
      alice = await t.user('user', 'Alice');
      const setupAdmin = await t.user('admin', 'Setup Admin');
      active = await createMarket(t, alice);
      settled = await createMarket(t, alice);
      for (const m of [active, settled]) {
        const res = await trade(t, alice, m.id, { outcome: 'YES', side: 'buy', amount: 5 });
        assert.equal(res.statusCode, 201, res.body);
      }
      const resolved = await t.request({
        method: 'POST',
        url: `/api/markets/${settled.id}/resolve`,
        headers: setupAdmin.auth,
        payload: { outcome: 'YES' },
      });
      assert.equal(resolved.statusCode, 200, resolved.body);

      const mallory = await penniless('user');
      const admin = await penniless('admin');
      const secret = new TextEncoder().encode(TEST_JWT_SECRET);
      const forge = (claims: Record<string, unknown>) =>
        new SignJWT({ email: alice.email, role: 'admin', iss: 'markets-api', aud: 'markets-api', ...claims })
          .setProtectedHeader({ alg: 'HS256' })
          .sign(secret);
      const exp = Math.floor(Date.now() / 1000) + 3600;
      // Signed with our key but wrong inside, weighed above the garbage that fails at once.
      const wellSigned: Record<string, string>[] = [
        { authorization: `Bearer ${await forge({ sub: 'not-a-uuid', exp })}` },
        { authorization: `Bearer ${await forge({ sub: '-'.repeat(36), exp })}` },
        { authorization: `Bearer ${await forge({ sub: alice.id })}` }, // no exp: must not be alice forever
        { authorization: `Bearer ${await forge({ sub: alice.id, exp: 'never' })}` },
      ];
      const garbage: Record<string, string>[] = [
        { authorization: 'Basic YWxpY2U6cGFzcw==' },
        { 'x-api-key': 'mk_live_0000' },
        { authorization: mallory.authorization, 'x-api-key': 'mk_live_0000' },
        ...HOSTILE_STRINGS.filter((s) => headerSafe('authorization', `Bearer ${s}`)).map((s) => ({
          authorization: `Bearer ${s}`,
        })),
      ];
      auth.user = fc.constant({ authorization: mallory.authorization });
      auth.admin = fc.constant({ authorization: admin.authorization });
      auth.forged = fc.oneof(fc.constantFrom(...wellSigned), fc.constantFrom(...garbage));
      knownIds = [
        active.id,
        active.slug,
        active.id.toUpperCase(),
        settled.id,
        settled.slug,
        alice.id,
        mallory.id,
      ];
      existingEmails = [alice.email, alice.email.toUpperCase(), mallory.email, ` ${admin.email}`];
      baseline = await state();
    });
    after(() => t?.close());

    const resolve = (schema: JsonSchema): JsonSchema =>
      schema.$ref ? resolve(spec.components.schemas[schema.$ref.split('/').pop()!]!) : schema;

    /** One operation's requests: who calls, which id, which query, headers and body. */
    function requests(method: string, path: string, op: Operation): fc.Arbitrary<Generated> {
      const params = op.parameters ?? [];
      const write = method !== 'get';
      const query = params.filter((p) => p.in === 'query');
      const headerParams = params.filter((p) => p.in === 'header');
      const bodySchema = op.requestBody?.content['application/json']?.schema;
      const overrides: Record<string, fc.Arbitrary<unknown>> = path === '/api/auth/register'
        ? {
            // Taken emails only (in any case): a registration must never create a user here.
            email: fc.oneof(
              fc.constantFrom(...existingEmails),
              hostileValue.filter((v) => typeof v !== 'string' || !v.includes('@')),
            ),
          }
        : {};

      const idFor = (identity: Identity) =>
        fc.oneof(
          // The admin may do anything to a live market; its writes go to a settled one or nowhere.
          fc.constantFrom(...(identity === 'admin' && write ? [settled.id, settled.slug] : knownIds)),
          fc.uuid(),
          fc.constantFrom(...HOSTILE_STRINGS).filter((s) => s.length > 0),
          fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }),
        );
      const queryValue = (p: { name: string; schema: JsonSchema }) =>
        p.name === 'cursor'
          ? fc.oneof(forgedCursor, valueFor(p.schema, resolve).map(asText))
          : fc.oneof(validValue(p.schema, resolve), valueFor(p.schema, resolve)).map(asText);
      const queryArb = fc
        .tuple(
          ...query.map((p) =>
            fc.option(
              fc.oneof(
                { weight: 4, arbitrary: queryValue(p).map((v) => [v]) },
                {
                  weight: 1,
                  arbitrary: fc.array(valueFor(p.schema, resolve).map(asText), {
                    minLength: 2,
                    maxLength: 3,
                  }),
                },
              ),
              { freq: 3 },
            ),
          ),
          fc.option(
            fc.tuple(fc.constantFrom('extra', 'sort[]', '__proto__', 'limit '), hostileValue.map(asText)),
            {
              freq: 6,
            },
          ),
        )
        .map(([...parts]) => {
          const extra = parts.pop() as [string, string] | null;
          const pairs: [string, string][] = [];
          parts.forEach((values, i) => {
            for (const v of (values as string[] | null) ?? []) pairs.push([query[i]!.name, v]);
          });
          if (extra) pairs.push(extra);
          return pairs.map(([k, v]) => `${pct(k)}=${pct(v)}`).join('&');
        });
      const headerArb = fc.tuple(
        ...headerParams.map((p) =>
          fc.option(valueFor(p.schema, resolve).map(asText), { freq: 2 }).map((v) => [p.name, v] as const),
        ),
      );
      const bodyArb: fc.Arbitrary<[string | undefined, string]> = bodySchema
        ? fc.tuple(
            fc.oneof(
              {
                weight: 4,
                arbitrary: objectFor(resolve(bodySchema), resolve, overrides).map((b) => JSON.stringify(b)),
              },
              {
                // Valid but for one or two fields: the rest of the request gets past validation.
                weight: 4,
                arbitrary: mutatedObject(resolve(bodySchema), resolve, overrides).map((b) =>
                  JSON.stringify(b),
                ),
              },
              { weight: 1, arbitrary: fc.constantFrom(...RAW_BODIES) },
              { weight: 1, arbitrary: hostileValue.map((v) => JSON.stringify(v)) },
            ),
            fc.constantFrom(
              'application/json',
              'application/json',
              'application/json',
              'text/plain',
              'application/json; charset=utf-16',
            ),
          )
        : write
          ? fc
              .option(fc.constantFrom(...RAW_BODIES.slice(0, 5)), { freq: 3 })
              .map((b) => [b ?? undefined, 'application/json'])
          : fc.constant([undefined, 'application/json']);

      return fc.constantFrom<Identity>('nobody', 'user', 'admin', 'forged').chain((identity) =>
        fc
          .record({
            credentials: identity === 'nobody' ? fc.constant({}) : auth[identity],
            id: idFor(identity),
            raw: fc.boolean(),
            query: queryArb,
            headers: headerArb,
            body: bodyArb,
          })
          .map(({ credentials, id, raw, query: qs, headers, body: [payload, contentType] }) => {
            const url = `${path.replace('{id}', pathSegment(id, raw))}${qs ? `?${qs}` : ''}`;
            const all: Record<string, string> = { ...credentials };
            for (const [name, value] of headers)
              if (value !== null && headerSafe(name, value)) all[name] = value;
            if (payload !== undefined) all['content-type'] = contentType;
            return { method: method.toUpperCase(), url, headers: all, payload };
          }),
      );
    }

    test(`at least ${RUNS} generated requests over every operation (seed ${SEED})`, async (ctx) => {
      const operations = Object.entries(spec.paths)
        .flatMap(([path, ops]) =>
          Object.entries(ops).map(([method, op]) => ({
            name: `${method.toUpperCase()} ${path}`,
            method,
            path,
            op,
          })),
        )
        .map((o, index) => ({ ...o, index }));
      assert.ok(operations.length >= 30, `every operation is documented (${operations.length})`);
      const selected = ONLY ? operations.filter((o) => o.name === ONLY) : operations;
      // The probes take no input but headers and a query string: a few dozen each is plenty.
      const probes = selected.filter((o) => !o.path.startsWith('/api/'));
      const PROBE_RUNS = 40;
      const perOperation = Math.ceil(
        (RUNS - probes.length * PROBE_RUNS) / Math.max(1, selected.length - probes.length),
      );
      ctx.diagnostic(
        `seed ${SEED}: ${perOperation} inputs × ${selected.length - probes.length} API operations, ${PROBE_RUNS} × ${probes.length} probes`,
      );
      let total = 0;
      const failures: string[] = [];
      const statuses = new Map<number, number>();

      for (const { name, method, path, op, index } of selected) {
        // Each operation its own seed (the same one when replayed alone), so they explore differently.
        const seed = (SEED + index) | 0;
        const numRuns = path.startsWith('/api/') ? perOperation : PROBE_RUNS;
        total += numRuns;
        const property = fc.asyncProperty(requests(method, path, op), async (req) => {
          const started = performance.now();
          const res = streams(op) ? await overHttp(base, req) : await t.request(req);
          const ms = performance.now() - started;
          statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
          assert.ok(res.statusCode < 500, `${res.statusCode}: ${res.body.slice(0, 300)}`);
          assert.ok(ms < MAX_ANSWER_MS, `answered in ${Math.round(ms)} ms`);
          if (res.statusCode >= 400) {
            assert.match(String(res.headers['content-type']), /^application\/json/);
            const body = res.json();
            assert.equal(body.success, false);
            assert.equal(typeof body.error, 'string');
            assert.equal(typeof body.code, 'string');
            assert.equal(typeof body.requestId, 'string');
            assert.equal(body.requestId, res.headers['x-request-id']);
          }
        });
        const opStarted = performance.now();
        try {
          await fc.assert(property, {
            numRuns,
            seed,
            ...(process.env.HOSTILE_INPUT_PATH && { path: process.env.HOSTILE_INPUT_PATH }),
          });
          if (process.env.HOSTILE_INPUT_TIMING)
            ctx.diagnostic(`${name}: ${Math.round(performance.now() - opStarted)} ms`);
          assert.deepEqual(await state(), baseline, 'nothing that matters changed');
        } catch (error) {
          // Go on with the other operations (against the state as it now is): one run reports
          // every operation that fails, and only those.
          baseline = await state();
          failures.push(
            `${name}: replay with HOSTILE_INPUT_SEED=${SEED} HOSTILE_INPUT_ONLY="${name}"\n${(error as Error).message}`,
          );
        }
      }
      ctx.diagnostic(`statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);
      if (failures.length > 0)
        assert.fail(`${failures.length} operations failed\n\n${failures.join('\n\n')}`);
      if (!ONLY) assert.ok(total >= RUNS, `${total} inputs`);
    });
  });
}
