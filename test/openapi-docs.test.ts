import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { chromiumMissing, launchBrowser, offOrigin, requestsSettled } from './helpers/browser.ts';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';

interface Parameter {
  in: string;
  name: string;
  description?: string;
}
interface Operation {
  operationId?: string;
  summary?: string;
  description?: string;
  parameters?: Parameter[];
  responses: Record<string, { description?: string; content?: Record<string, { example?: unknown }> }>;
}
type Spec = { paths: Record<string, Record<string, Operation>> };

/**
 * The rule for every route, whoever adds it: the reference explains it. The document is the same on
 * either database, so one is enough.
 */
describe('the reference explains every operation', () => {
  let t: TestApp;
  let spec: Spec;
  const operations = () =>
    Object.entries(spec.paths).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => ({ name: `${method.toUpperCase()} ${path}`, op })),
    );

  before(async () => {
    t = await buildTestApp('pglite');
    spec = (await t.request({ method: 'GET', url: '/openapi.json' })).json();
  });
  after(() => t?.close());

  test('every operation has a unique operationId, a summary and a description', () => {
    const ids = new Map<string, string>();
    const problems: string[] = [];
    for (const { name, op } of operations()) {
      if (!op.operationId) problems.push(`${name}: no operationId`);
      else if (ids.has(op.operationId))
        problems.push(`${name}: operationId ${op.operationId} also on ${ids.get(op.operationId)}`);
      else ids.set(op.operationId, name);
      if (!op.summary?.trim()) problems.push(`${name}: no summary`);
      if (!op.description?.trim()) problems.push(`${name}: no description`);
    }
    assert.deepEqual(problems, []);
    assert.equal(spec.paths['/api/markets/{id}/history']?.get?.operationId, 'getMarketsByIdHistory');
    assert.equal(spec.paths['/api/markets']?.get?.operationId, 'getMarkets');
  });

  test('every path, query and header parameter is described', () => {
    const undescribed = operations().flatMap(({ name, op }) =>
      (op.parameters ?? []).filter((p) => !p.description?.trim()).map((p) => `${name}: ${p.in} ${p.name}`),
    );
    assert.deepEqual(undescribed, []);
  });

  test('the shared headers say what they do, with an example', () => {
    const seen = new Set<string>();
    for (const { op } of operations()) {
      for (const p of op.parameters ?? []) {
        if (p.in !== 'header') continue;
        seen.add(p.name.toLowerCase());
        assert.ok((p as { example?: unknown }).example !== undefined, `${p.name} has an example`);
      }
    }
    for (const header of ['idempotency-key', 'if-match', 'if-none-match'])
      assert.ok(seen.has(header), header);
    const ifMatch = spec.paths['/api/markets/{id}']!.patch!.parameters!.find((p) => p.name === 'if-match')!;
    assert.match(ifMatch.description!, /412/);
  });

  test('every response is described, and every error one shows the envelope it answers with', () => {
    const problems: string[] = [];
    for (const { name, op } of operations()) {
      for (const [status, response] of Object.entries(op.responses)) {
        if (!response.description?.trim() || response.description === 'Default Response') {
          problems.push(`${name} ${status}: no description`);
        }
        const json = response.content?.['application/json'];
        if (Number(status) >= 400 && json) {
          const example = json.example as
            | { success?: boolean; code?: string; requestId?: string }
            | undefined;
          if (example?.success !== false || !example.code || !example.requestId) {
            problems.push(`${name} ${status}: no example of the error envelope`);
          }
        }
      }
    }
    assert.deepEqual(problems, []);
  });
});

describe('/docs in a browser', { skip: !process.env.CI && chromiumMissing }, () => {
  let t: TestApp;
  let origin: string;

  before(async () => {
    t = await buildTestApp('pglite');
    origin = await t.app.listen({ host: '127.0.0.1', port: 0 });
  });
  after(() => t?.close());

  test('loads nothing from outside the app, shows the markets operations and none of the cloud or AI buttons', async () => {
    const browser = await launchBrowser();
    try {
      const { page, requested } = await browser.open(`${origin}/docs/`);
      // The markets group comes first and opens by itself.
      await page.getByText('List markets with filters').first().waitFor({ timeout: 60_000 });
      await requestsSettled(requested);
      assert.deepEqual(offOrigin(requested, origin), [], 'every request stayed on the app origin');
      assert.ok(
        requested.some((url) => url.endsWith('/docs/js/scalar.js')),
        'the script is the app’s copy',
      );
      assert.ok(requested.some((url) => url.endsWith('/openapi.json')));
      // biome-ignore lint/performance/useDomNodeTextContent: what is rendered visible, not hidden templates
      const text = await page.locator('body').innerText();
      for (const summary of ['List markets with filters', 'Create a market', 'Get a market by id or slug']) {
        assert.ok(text.includes(summary), summary);
      }
      // Scalar's cloud: its developer toolbar (Deploy, Generate SDK, Share…), the AI agent, MCP.
      for (const label of [
        /ask ai/i,
        /\bdeploy\b/i,
        /generate sdk/i,
        /^share$/i,
        /developer tools/i,
        /\bmcp\b/i,
      ]) {
        const control = page.getByRole('button', { name: label }).or(page.getByRole('link', { name: label }));
        assert.equal(await control.filter({ visible: true }).count(), 0, `no ${label} control`);
      }
      assert.doesNotMatch(text, /Ask AI|Generate SDK|Developer Tools|MCP/);
    } finally {
      await browser.close();
    }
  });
});
