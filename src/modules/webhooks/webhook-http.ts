import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { parseRetryAfter } from '../../lib/retry.ts';
import { checkUrlSyntax, resolveAllowed, UrlRefused, type UrlRules } from './webhook-url.ts';

export type SendResult =
  | { kind: 'delivered'; status: number; body: string }
  | { kind: 'failed'; retryable: boolean; status?: number; error: string; retryAfterMs?: number };

export interface SendOptions {
  rules: UrlRules;
  /** Whole attempt: resolution, connection, request, status line and the bounded body read. */
  timeoutMs: number;
  /** Bytes of the answer kept; the connection is closed once they are read. */
  maxResponseBytes: number;
}

/**
 * One POST to a receiver, made safe against the receiver: the host is resolved and every address
 * checked (resolveAllowed), and the connection goes to a checked address (the `lookup` below
 * hands the socket those addresses instead of resolving again, so a DNS answer that changes
 * between check and connect, DNS rebinding, cannot redirect it). Redirects are never followed
 * (node:http does not; a 3xx is a failure). At most `maxResponseBytes` of the answer are read,
 * then the socket is destroyed, and the whole attempt is bounded by `timeoutMs`.
 *
 * Failures are classified as the retry policy needs: network errors, timeouts, 408, 429 and 5xx
 * are retryable; other 4xx, 3xx and refused addresses are not.
 */
export async function sendWebhook(
  rawUrl: string,
  body: string,
  headers: Record<string, string>,
  { rules, timeoutMs, maxResponseBytes }: SendOptions,
): Promise<SendResult> {
  const deadline = Date.now() + timeoutMs;
  let url: URL;
  let addresses: { address: string; family: number }[];
  try {
    url = checkUrlSyntax(rawUrl, rules);
    addresses = await resolveAllowed(url, {
      ...rules,
      resolveTimeoutMs: Math.min(rules.resolveTimeoutMs, timeoutMs),
    });
  } catch (error) {
    if (error instanceof UrlRefused)
      return { kind: 'failed', retryable: error.transient, error: error.message };
    throw error;
  }
  const pinned: LookupFunction = (_hostname, options, callback) => {
    if (options.all) callback(null, addresses);
    else callback(null, addresses[0]!.address, addresses[0]!.family);
  };

  return new Promise<SendResult>((resolve) => {
    let settled = false;
    const finish = (result: SendResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.destroy();
      resolve(result);
    };
    const request = (url.protocol === 'https:' ? https : http).request(url, {
      method: 'POST',
      agent: false,
      lookup: pinned,
      headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    });
    // Once the status line is in, a body still arriving at the deadline is cut there: the status decides.
    let answered: (() => void) | undefined;
    const timer = setTimeout(
      () =>
        answered
          ? answered()
          : finish({ kind: 'failed', retryable: true, error: `timed out after ${timeoutMs} ms` }),
      Math.max(1, deadline - Date.now()),
    );
    request.on('error', (error) =>
      finish({ kind: 'failed', retryable: true, error: `network error: ${error.message}` }),
    );
    request.on('response', (response) => {
      const status = response.statusCode ?? 0;
      const chunks: Buffer[] = [];
      let kept = 0;
      const done = () => {
        const text = Buffer.concat(chunks).toString('utf8');
        finish(classify(status, response.headers, text));
      };
      answered = done;
      response.on('data', (chunk: Buffer) => {
        const room = maxResponseBytes - kept;
        if (room > 0) chunks.push(chunk.subarray(0, room));
        kept += Math.min(room, chunk.length);
        // Enough read: a 1 GB answer costs us 16 KiB, not a gigabyte.
        if (kept >= maxResponseBytes) done();
      });
      response.on('end', done);
      response.on('error', done);
    });
    request.end(body);
  });
}

function classify(status: number, headers: http.IncomingHttpHeaders, body: string): SendResult {
  if (status >= 200 && status < 300) return { kind: 'delivered', status, body };
  const snippet = body.slice(0, 300);
  if (status >= 300 && status < 400) {
    const location = String(headers.location ?? '').slice(0, 300);
    return {
      kind: 'failed',
      retryable: false,
      status,
      error: `HTTP ${status}: redirect not followed (to ${location || 'nowhere'})`,
    };
  }
  const retryable = status === 408 || status === 429 || status >= 500;
  const retryAfter = parseRetryAfter(
    typeof headers['retry-after'] === 'string' ? headers['retry-after'] : null,
  );
  return {
    kind: 'failed',
    retryable,
    status,
    error: `HTTP ${status}${snippet ? `: ${snippet}` : ''}`,
    ...(retryable && retryAfter !== undefined && { retryAfterMs: retryAfter }),
  };
}
