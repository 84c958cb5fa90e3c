import createFetchClient, { type Client, type ClientOptions } from 'openapi-fetch';
import type { components, operations, paths } from './schema.ts';

export type { components, operations, paths };
/** A schema of the document by name: `Schema<'Market'>`, `Schema<'Error'>`. */
export type Schema<Name extends keyof components['schemas']> = components['schemas'][Name];
export type MarketsClient = Client<paths>;

export interface MarketsClientOptions extends ClientOptions {
  /** Where the API runs, e.g. `http://localhost:3000` (paths in calls start with /api). */
  baseUrl: string;
  /** An access token (login, `npm run token`) or an API key, sent as `Authorization: Bearer …`. */
  token?: string | undefined;
}

/**
 * A typed client for the Markets API: every path, parameter, body and response is checked by
 * TypeScript against the API's own OpenAPI document (src/schema.ts, generated).
 *
 *   const api = createClient({ baseUrl: 'http://localhost:3000', token });
 *   const { data, error } = await api.GET('/api/markets', { params: { query: { sort: 'volume' } } });
 */
export function createClient({ token, headers, ...options }: MarketsClientOptions): MarketsClient {
  return createFetchClient<paths>({
    ...options,
    headers: { ...(token !== undefined && { authorization: `Bearer ${token}` }), ...(headers as object) },
  });
}
