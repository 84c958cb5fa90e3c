import { existsSync } from 'node:fs';
import { type Browser, chromium, type Page } from 'playwright-core';

/** Debian's chromium package; `.ci/run` installs it when it is missing. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Whether a browser is installed here: a test that needs one fails with this reason rather than skipping in CI. */
export const chromiumMissing = existsSync(CHROMIUM)
  ? undefined
  : `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`;

export interface TestBrowser {
  browser: Browser;
  /** A new page that records the URL of every request it makes (fetches, scripts, fonts, streams). */
  open(url: string): Promise<{ page: Page; requested: string[] }>;
  close(): Promise<void>;
}

/**
 * Headless Chromium as this machine runs it: as root (no sandbox), with no background traffic (the
 * network here is closed and Chromium would otherwise try to reach Google's hosts at every start);
 * Playwright gives each launch a fresh profile.
 */
export async function launchBrowser(): Promise<TestBrowser> {
  if (chromiumMissing && process.env.CI) throw new Error(chromiumMissing);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  return {
    browser,
    async open(url) {
      const page = await browser.newPage();
      const requested: string[] = [];
      page.on('request', (request) => {
        requested.push(request.url());
      });
      await page.goto(url);
      return { page, requested };
    },
    async close() {
      await browser.close();
    },
  };
}

/**
 * Resolves once the page has started no request for `quietMs`: the point after which "it loaded
 * nothing else" is asserted. (Playwright's own `networkidle` waits on Chromium's connection count,
 * which a headless Chromium sometimes never brings to zero after every request had finished: the
 * docs test timed out on it with no request pending.)
 */
export async function requestsSettled(
  requested: string[],
  quietMs = 1000,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let seen = requested.length;
  let quietSince = Date.now();
  while (Date.now() - quietSince < quietMs) {
    if (Date.now() > deadline) throw new Error(`the page was still making requests after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    if (requested.length !== seen) {
      seen = requested.length;
      quietSince = Date.now();
    }
  }
}

/** The requests that left `origin` (an app must load nothing from the internet). */
export function offOrigin(requested: string[], origin: string): string[] {
  return requested.filter((url) => new URL(url).origin !== origin && !url.startsWith('data:'));
}
