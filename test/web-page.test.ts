import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { chromiumMissing, launchBrowser, offOrigin, type TestBrowser } from './helpers/browser.ts';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { databaseKinds } from './helpers/databases.ts';
import { eventually } from './helpers/eventually.ts';
import { marketBody } from './helpers/factories.ts';
import type { TestUser } from './helpers/trading.ts';

/** What a trade or comment made elsewhere may take to show on an open page, on a loaded 2-core machine. */
const LIVE_WITHIN_MS = 10_000;
const RECONNECT_AFTER_MS = 4000;
const HOSTILE_NAME = '<img src=x onerror="window.__injected=1">';

/** The chart's canvas as an image (a redraw changes it). */
const CHART_PIXELS = "document.querySelector('#chart canvas').toDataURL()";

interface MarketRef {
  id: string;
  slug: string;
  name: string;
}
interface TradeResult {
  trade: { id: string };
  market: { probability: number };
}

const percent = (p: number) => `${(p * 100).toFixed(1)}%`;

describe('the page at / is served as a page, not as an API route', () => {
  let t: TestApp;
  before(async () => {
    t = await buildTestApp('pglite');
  });
  after(() => t.close());

  test('/ is HTML with a policy that allows this origin only, revalidated with an ETag', async () => {
    const res = await t.request({ method: 'GET', url: '/' });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'text/html; charset=utf-8');
    const csp = String(res.headers['content-security-policy']);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /connect-src 'self'(;|$)/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.equal(res.headers['cache-control'], 'no-cache');
    const etag = String(res.headers.etag);
    assert.match(etag, /^"[\w-]+"$/);
    const again = await t.request({ method: 'GET', url: '/', headers: { 'if-none-match': etag } });
    assert.equal(again.statusCode, 304);
    assert.equal(again.body, '');
    // Nothing inline for the policy to refuse.
    assert.doesNotMatch(res.body, /<script>|<style|\sstyle=|\son\w+=/i);
  });

  test('the assets it names are served with their content types, cached for a year under their hashed URL', async () => {
    const html = (await t.request({ method: 'GET', url: '/' })).body;
    const urls = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    assert.equal(urls.length, 4, html);
    const types: Record<string, string> = {
      js: 'text/javascript; charset=utf-8',
      css: 'text/css; charset=utf-8',
    };
    for (const url of urls) {
      assert.match(url, /\?v=[\w-]{12}$/);
      const res = await t.request({ method: 'GET', url });
      assert.equal(res.statusCode, 200, url);
      assert.equal(res.headers['content-type'], types[url.split('?')[0]!.split('.').pop()!], url);
      assert.equal(res.headers['cache-control'], 'public, max-age=31536000, immutable', url);
      const revalidated = await t.request({
        method: 'GET',
        url,
        headers: { 'if-none-match': String(res.headers.etag) },
      });
      assert.equal(revalidated.statusCode, 304, url);
      // An old or missing version is not promised forever.
      const unversioned = await t.request({ method: 'GET', url: url.replace(/\?v=.*/, '?v=old') });
      assert.equal(unversioned.headers['cache-control'], 'no-cache', url);
    }
  });

  test('an asset that is not one of the page files is a 404 in the envelope, and nothing outside them is readable', async () => {
    for (const url of ['/assets/nope.js', '/assets/..%2Fapp.ts', '/assets/%2E%2E%2F%2E%2E%2Fpackage.json']) {
      const res = await t.request({ method: 'GET', url });
      assert.equal(res.statusCode, 404, url);
      assert.equal(res.json().success, false);
      assert.equal(res.json().code, 'NOT_FOUND');
    }
  });

  test('the page is not in /openapi.json (so generated API tests leave it alone)', async () => {
    const spec = (await t.request({ method: 'GET', url: '/openapi.json' })).json();
    const paths = Object.keys(spec.paths);
    assert.ok(paths.length > 10);
    assert.ok(!paths.some((p) => p === '/' || p.startsWith('/assets')), paths.join(' '));
  });
});

for (const kind of databaseKinds()) {
  describe(`the page at / in a browser, live from the stream (${kind})`, { skip: chromiumMissing }, () => {
    let t: TestApp;
    let origin: string;
    let browser: TestBrowser;
    let page: Page;
    const requested: string[] = [];
    const problems: string[] = [];
    let creator: TestUser;
    let trader: TestUser;
    const markets = {} as Record<'big' | 'hostile' | 'small' | 'cancelled', MarketRef>;

    /** Real HTTP to the listening app, as a client other than the page would call it. */
    async function call<T>(method: string, path: string, user: TestUser, body?: unknown): Promise<T> {
      const res = await fetch(origin + path, {
        method,
        headers: { ...user.auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const json = (await res.json()) as { data: T };
      assert.ok(res.ok, `${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
      return json.data;
    }
    const create = (name: string, amount: number) =>
      call<MarketRef>(
        'POST',
        '/api/markets',
        creator,
        marketBody({ name, initialPosition: { outcome: 'YES', amount } }),
      );

    before(async () => {
      // A reconnection delay long enough to make a trade while the page's stream is down.
      t = await buildTestApp(kind, { STREAM_RETRY_MS: String(RECONNECT_AFTER_MS) });
      await t.app.listen({ host: '127.0.0.1', port: 0 });
      origin = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
      creator = await t.user('user', 'Creator');
      trader = await t.user('user', 'Trader <img src=x onerror="window.__injected=2">');
      const admin = await t.user('admin');
      markets.small = await create('Small market', 5);
      markets.big = await create('Big market', 60);
      markets.hostile = await create(HOSTILE_NAME, 20);
      markets.cancelled = await create('Cancelled market', 100);
      await call('POST', `/api/markets/${markets.cancelled.id}/cancel`, admin, {});

      browser = await launchBrowser();
      page = await browser.browser.newPage();
      page.on('request', (request) => {
        requested.push(request.url());
      });
      // A refused script or style, or a script error, shows here (Chromium logs CSP refusals as errors).
      page.on('console', (message) => {
        if (message.type() === 'error' && !/Failed to load resource/.test(message.text()))
          problems.push(message.text());
      });
      page.on('pageerror', (error) => {
        problems.push(String(error));
      });
      await page.goto(`${origin}/`);
    });
    after(async () => {
      await browser?.close();
      await t?.close();
    });

    test('the front page lists the active markets by volume, names shown as text', async () => {
      await page.waitForSelector('#markets li', { timeout: LIVE_WITHIN_MS });
      const names = await page.locator('#markets li .market-name').allTextContents();
      assert.deepEqual(names, [markets.big.name, HOSTILE_NAME, markets.small.name]);
      // The hostile name is text on the page: no element was made of it and its handler never ran.
      assert.equal(await page.locator('#view img').count(), 0);
      assert.equal(await page.evaluate('window.__injected'), undefined);
      const probabilities = await page.locator('#markets li .probability').allTextContents();
      assert.ok(
        probabilities.every((p) => /^\d+\.\d%$/.test(p)),
        probabilities.join(' '),
      );
    });

    test('a trade made through the API updates its market’s line on the front page', async () => {
      await page.waitForSelector('#connection.live', { timeout: LIVE_WITHIN_MS });
      const result = await call<TradeResult>('POST', `/api/markets/${markets.small.id}/trades`, trader, {
        outcome: 'NO',
        side: 'buy',
        amount: 10,
      });
      const line = page.locator(`#markets li[data-id="${markets.small.id}"]`);
      await eventually(
        async () => (await line.locator('.probability').textContent()) === percent(result.market.probability),
        LIVE_WITHIN_MS,
        'the new probability on the front page',
      );
      assert.equal(await line.locator('.market-name').textContent(), markets.small.name);
    });

    test('a market named like markup opens and shows its name as text', async () => {
      await page.locator('#markets li a', { hasText: HOSTILE_NAME }).click();
      await page.waitForSelector('#probability:not(:empty)', { timeout: LIVE_WITHIN_MS });
      assert.equal(await page.locator('#market-name').textContent(), HOSTILE_NAME);
      assert.equal(await page.locator('#view img').count(), 0);
      assert.equal(await page.evaluate('window.__injected'), undefined);
      assert.equal(await page.title(), `${HOSTILE_NAME} · Markets`);
    });

    test('a trade made through the API moves the open market’s probability, chart and trade list', async (ctx) => {
      await page.goto(`${origin}/#/m/${markets.big.slug}`);
      await page.waitForSelector('#chart canvas', { timeout: LIVE_WITHIN_MS });
      const before = await page.locator('#probability').textContent();
      const chart = page.locator('#chart');
      const pointsBefore = Number(await chart.getAttribute('data-points'));
      const pixelsBefore = await page.evaluate(CHART_PIXELS);
      assert.ok(pointsBefore >= 2, `points: ${pointsBefore}`);
      // Waits until the stream is open, so that the trade below is one made while the page watches.
      await page.waitForSelector('#connection.live', { timeout: LIVE_WITHIN_MS });

      const started = Date.now();
      const result = await call<TradeResult>('POST', `/api/markets/${markets.big.id}/trades`, trader, {
        outcome: 'NO',
        side: 'buy',
        amount: 40,
      });
      const expected = percent(result.market.probability);
      assert.notEqual(expected, before);
      await eventually(
        async () => (await page.locator('#probability').textContent()) === expected,
        LIVE_WITHIN_MS,
        `probability ${expected} on the page`,
      );
      const tookMs = Date.now() - started;
      ctx.diagnostic(`trade to page: ${tookMs} ms`);

      assert.ok(Number(await chart.getAttribute('data-points')) > pointsBefore);
      assert.equal(Number(await chart.getAttribute('data-last')), result.market.probability);
      const pixelsAfter = await page.evaluate(CHART_PIXELS);
      assert.notEqual(pixelsAfter, pixelsBefore, 'the chart was redrawn');
      const firstTrade = page.locator('#trades tr').first();
      assert.equal(await firstTrade.getAttribute('data-id'), result.trade.id);
      assert.match(String(await firstTrade.textContent()), /buy NO/);
      assert.match(String(await page.locator('#facts').textContent()), /traded/);
    });

    test('a trade made while the page’s stream was down shows once it has reconnected, exactly once', async () => {
      await page.waitForSelector('#connection.live', { timeout: LIVE_WITHIN_MS });
      const rowsBefore = await page.locator('#trades tr').count();
      // Drops every open connection, the page's stream with it; it reconnects after STREAM_RETRY_MS.
      t.app.server.closeAllConnections();
      await page.waitForSelector('#connection.down', { timeout: LIVE_WITHIN_MS });
      const result = await call<TradeResult>('POST', `/api/markets/${markets.big.id}/trades`, trader, {
        outcome: 'YES',
        side: 'buy',
        amount: 25,
      });
      // Made while the page was away: it can only get it by resuming from the last event it saw.
      assert.equal(
        await page.locator('#connection.down').count(),
        1,
        'the page reconnected before the trade',
      );
      await eventually(
        async () => (await page.locator('#probability').textContent()) === percent(result.market.probability),
        LIVE_WITHIN_MS,
        'the missed trade on the page',
      );
      assert.equal(await page.locator(`#trades tr[data-id="${result.trade.id}"]`).count(), 1);
      assert.equal(await page.locator('#trades tr').count(), rowsBefore + 1);
      assert.equal(Number(await page.locator('#chart').getAttribute('data-last')), result.market.probability);
    });

    test('a comment posted through the API appears, its text and its author’s name as text', async () => {
      const text = `Feels like <b>NO</b> to me <img src=x onerror="window.__injected=3"> ${Date.now()}`;
      const comment = await call<{ id: string; text: string }>(
        'POST',
        `/api/markets/${markets.big.id}/comments`,
        trader,
        { text },
      );
      await eventually(
        async () => (await page.locator(`#comments li[data-id="${comment.id}"] .comment-text`).count()) === 1,
        LIVE_WITHIN_MS,
        'the comment on the page',
      );
      const shown = page.locator(`#comments li[data-id="${comment.id}"]`);
      assert.equal(await shown.locator('.comment-text').textContent(), comment.text);
      // The author's name is user text too, and this one is markup.
      assert.match(String(await shown.locator('.comment-meta').textContent()), /^Trader <img src=x/);
      assert.equal(await page.locator('#view img, #view b').count(), 0);
      assert.equal(await page.evaluate('window.__injected'), undefined);
    });

    test('a comment deleted through the API turns into a tombstone on the page', async () => {
      const comment = await call<{ id: string }>('POST', `/api/markets/${markets.big.id}/comments`, trader, {
        text: 'I take it back',
      });
      const shown = page.locator(`#comments li[data-id="${comment.id}"] .comment-text`);
      await eventually(async () => (await shown.count()) === 1, LIVE_WITHIN_MS, 'the comment on the page');
      await call('DELETE', `/api/markets/${markets.big.id}/comments/${comment.id}`, trader);
      await eventually(
        async () => (await shown.textContent()) === 'comment deleted',
        LIVE_WITHIN_MS,
        'the tombstone on the page',
      );
    });

    test('a multiple-choice market’s line lists its answers with their probabilities, and its page too', async () => {
      const m = await call<MarketRef & { answers: { id: string; text: string }[] }>(
        'POST',
        '/api/markets',
        creator,
        marketBody({ name: 'Who wins the sprint?', answers: ['Alpha', 'Bravo', 'Charlie'] }),
      );
      await call('POST', `/api/markets/${m.id}/trades`, trader, {
        answerId: m.answers[1]!.id,
        side: 'buy',
        amount: 30,
      });
      await page.goto(`${origin}/`);
      const line = page.locator(`#markets li[data-id="${m.id}"]`);
      await line.waitFor({ timeout: LIVE_WITHIN_MS });
      const answers = await line.locator('.answers li').allTextContents();
      assert.equal(answers.length, 3);
      // Most likely first: Bravo was bought.
      assert.match(answers[0]!, /^Bravo \d+\.\d%$/);
      assert.ok(
        answers.every((a) => /^(Alpha|Bravo|Charlie) \d+\.\d%$/.test(a)),
        answers.join(' | '),
      );
      await page.goto(`${origin}/#/m/${m.slug}`);
      await page.waitForSelector('#answers .answers li', { timeout: LIVE_WITHIN_MS });
      assert.equal(await page.locator('#answers .answers li').count(), 3);
    });

    test('every request the page made stayed on the app’s origin, and nothing was refused or threw', () => {
      assert.ok(
        requested.some((url) => url.includes('/events')),
        requested.join('\n'),
      );
      assert.deepEqual(offOrigin(requested, origin), []);
      assert.deepEqual(problems, []);
    });
  });
}
