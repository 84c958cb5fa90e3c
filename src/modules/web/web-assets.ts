import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** One file of the page, held in memory: the set is fixed and small (about 60 KB). */
export interface WebAsset {
  body: Buffer;
  contentType: string;
  /** Strong validator: a hash of the bytes. */
  etag: string;
  /** The short form of the hash the page's URLs carry (`?v=`), so a changed file gets a new URL. */
  version: string;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

const require = createRequire(import.meta.url);
const pageFile = (name: string) => fileURLToPath(new URL(`../../web/${name}`, import.meta.url));

/** What /assets/<name> serves, and where each file comes from: the page's own files and uPlot's build. */
const SOURCES: Record<string, string> = {
  'app.js': pageFile('app.js'),
  'styles.css': pageFile('styles.css'),
  'uPlot.iife.min.js': require.resolve('uplot/dist/uPlot.iife.min.js'),
  'uPlot.min.css': require.resolve('uplot/dist/uPlot.min.css'),
};

function assetOf(body: Buffer, name: string): WebAsset {
  const hash = createHash('sha256').update(body).digest('base64url');
  const ext = name.slice(name.lastIndexOf('.'));
  const contentType = CONTENT_TYPES[ext];
  if (!contentType) throw new Error(`no content type for ${name}`);
  return { body, contentType, etag: `"${hash.slice(0, 27)}"`, version: hash.slice(0, 12) };
}

export interface WebAssets {
  page: WebAsset;
  assets: ReadonlyMap<string, WebAsset>;
}

/**
 * Reads the page's files once, at start (a change needs a restart, as any code change does).
 * index.html names each asset as `/assets/<name>`; those references get `?v=<hash>` here, so the
 * assets can be cached for a year and a new release is still fetched at once.
 */
export async function loadWebAssets(): Promise<WebAssets> {
  const assets = new Map<string, WebAsset>();
  for (const [name, file] of Object.entries(SOURCES)) {
    assets.set(name, assetOf(await readFile(file), name));
  }
  const html = (await readFile(pageFile('index.html'), 'utf8')).replace(
    /\/assets\/([\w.-]+)/g,
    (ref, name: string) => {
      const asset = assets.get(name);
      if (!asset) throw new Error(`index.html names an asset that is not served: ${ref}`);
      return `${ref}?v=${asset.version}`;
    },
  );
  return { page: assetOf(Buffer.from(html), 'index.html'), assets };
}
