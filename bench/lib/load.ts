import autocannon from 'autocannon';

export interface LoadOptions {
  url: string;
  /** Paths to request, in rotation (one per request); defaults to the URL's own path. */
  paths?: readonly string[];
  connections: number;
  durationSeconds: number;
  /** Requests per second across all connections; unset = as fast as the server answers. */
  overallRate?: number;
  headers?: Record<string, string>;
  /** Builds the n-th request (method, path, headers, body) instead of rotating GET `paths`. */
  request?: (n: number) => {
    method: 'GET' | 'POST' | 'PATCH';
    path: string;
    headers?: Record<string, string>;
    body?: string;
  };
}

export interface LoadResult {
  /** Responses received. */
  requests: number;
  reqPerSec: number;
  /** Milliseconds, over every response (autocannon's own percentiles lack p95 and skip non-2xx). */
  p50: number;
  p95: number;
  p99: number;
  /** Connection errors, timeouts and non-2xx responses. */
  errors: number;
}

/** Runs autocannon in this process against a server in another one, recording every latency. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const latencies: number[] = [];
  const paths = options.paths;
  let next = 0;
  const done = Promise.withResolvers<autocannon.Result>();
  const instance = autocannon(
    {
      url: options.url,
      connections: options.connections,
      duration: options.durationSeconds,
      ...(options.overallRate !== undefined && { overallRate: options.overallRate }),
      ...(options.headers && { headers: options.headers }),
      ...(options.request && {
        requests: [{ setupRequest: (request) => ({ ...request, ...options.request!(next++) }) }],
      }),
      ...(!options.request &&
        paths &&
        paths.length > 0 && {
          requests: [
            {
              method: 'GET',
              setupRequest: (request) => ({ ...request, path: paths[next++ % paths.length]! }),
            },
          ],
        }),
    },
    (error, result) => (error ? done.reject(error) : done.resolve(result)),
  );
  instance.on('response', (_client: unknown, _status: number, _bytes: number, responseTime: number) => {
    latencies.push(responseTime);
  });
  const result = await done.promise;
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    reqPerSec: Math.round(latencies.length / (result.duration || options.durationSeconds)),
    p50: percentile(latencies, 0.5),
    p95: percentile(latencies, 0.95),
    p99: percentile(latencies, 0.99),
    errors: result.errors + result.timeouts + result.non2xx,
  };
}

/** The q-quantile of ascending `sorted` milliseconds, rounded to 0.01 ms. */
export function percentile(sorted: readonly number[], q: number): number {
  const value = sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return Math.round(value * 100) / 100;
}
