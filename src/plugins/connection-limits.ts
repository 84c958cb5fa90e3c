import type { FastifyServerOptions } from 'fastify';
import type { Config } from '../config/env.ts';

type LimitsConfig = Pick<
  Config,
  | 'REQUEST_TIMEOUT_MS'
  | 'HEADERS_TIMEOUT_MS'
  | 'CONNECTION_TIMEOUT_MS'
  | 'KEEP_ALIVE_TIMEOUT_MS'
  | 'MAX_REQUESTS_PER_SOCKET'
>;

/**
 * Fastify's server options that bound what one connection can hold: a client that trickles its
 * headers or body is answered 408 and cut off (Node's requestTimeout/headersTimeout), a silent
 * socket is closed (connectionTimeout), an idle keep-alive connection is closed, and one
 * connection carries at most MAX_REQUESTS_PER_SOCKET requests. Without them Node waits forever:
 * a few hundred slow senders then hold every socket the process can open.
 */
export function connectionLimitsOptions(
  config: LimitsConfig,
): Pick<
  FastifyServerOptions,
  'requestTimeout' | 'connectionTimeout' | 'keepAliveTimeout' | 'maxRequestsPerSocket'
> & { http: { headersTimeout: number; connectionsCheckingInterval: number; requireHostHeader: boolean } } {
  const shortest = Math.min(config.HEADERS_TIMEOUT_MS, config.REQUEST_TIMEOUT_MS || Number.POSITIVE_INFINITY);
  return {
    requestTimeout: config.REQUEST_TIMEOUT_MS,
    connectionTimeout: config.CONNECTION_TIMEOUT_MS,
    keepAliveTimeout: config.KEEP_ALIVE_TIMEOUT_MS,
    maxRequestsPerSocket: config.MAX_REQUESTS_PER_SOCKET,
    http: {
      headersTimeout: config.HEADERS_TIMEOUT_MS,
      // Node checks those two deadlines only this often (30 s by default): a quarter of the
      // shortest keeps a cut-off within 25 % of its deadline.
      connectionsCheckingInterval: Math.max(250, Math.min(30_000, Math.floor(shortest / 4))),
      // A request without Host is refused by our own hook (framework-refusals.ts), in the envelope
      // and with a request id, instead of by Node with an empty 400.
      requireHostHeader: false,
    },
  };
}
