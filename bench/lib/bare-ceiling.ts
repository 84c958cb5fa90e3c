import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type RunningServer, startServer } from './processes.ts';

const BARE_SERVER = new URL('./bare-server.ts', import.meta.url).pathname;
/** Headers node:http writes on every response by itself: the bare server leaves them to it. */
const WRITTEN_BY_NODE = new Set(['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding']);

/** One response of the app, as the bare server replays it: its headers (as fetch lists them) and body. */
export interface RecordedResponse {
  headers: [string, string][];
  /** Base64. */
  body: string;
}

/** GET `url` once and keep what came back; a response that is not 2xx is an error. */
export async function recordResponse(url: string): Promise<RecordedResponse> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url} answered ${res.status}`);
  const headers = [...res.headers].filter(([name]) => !WRITTEN_BY_NODE.has(name));
  return { headers, body: Buffer.from(await res.arrayBuffer()).toString('base64') };
}

/** The same body with only its content type: the ceiling that earlier runs compared with. */
export function bodyOnly(recorded: RecordedResponse): RecordedResponse {
  return { headers: recorded.headers.filter(([name]) => name === 'content-type'), body: recorded.body };
}

/**
 * The ceiling a route is compared with: bare-server.ts, in its own process, answering every request
 * with `recorded` — the same body and the same headers (security headers, rate-limit counts, ETag,
 * request id), so the load generator, which shares the machine, parses the same bytes on both
 * sides and the ratio measures the server alone.
 */
export async function startBareServer(
  tmpDir: string,
  name: string,
  recorded: RecordedResponse,
): Promise<RunningServer> {
  const file = join(tmpDir, `bare-${name}.json`);
  await writeFile(file, JSON.stringify(recorded));
  return startServer({ script: BARE_SERVER, args: [file] });
}
