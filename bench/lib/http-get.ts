import { type Agent, request } from 'node:http';

/**
 * One GET on a keep-alive agent, the body read and dropped; resolves with the status, rejects
 * when it is not `expect` (so a closed loop counts it as an error).
 */
export function httpGet(
  agent: Agent,
  url: URL,
  { headers = {}, expect = 200 }: { headers?: Record<string, string>; expect?: number } = {},
): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, headers }, (res) => {
      res.resume();
      res.on('end', () =>
        res.statusCode === expect
          ? resolve(res.statusCode)
          : reject(new Error(`GET ${url.pathname} answered ${res.statusCode}`)),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}
