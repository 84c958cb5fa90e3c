/**
 * What the OpenAPI document says that no single route should have to repeat: operation ids, the
 * HTTP headers every route means the same by, and the error envelope's examples. Applied to every
 * operation by openapi.ts, so that a route added anywhere gets them; test/openapi-docs.test.ts fails
 * on any operation, parameter or response left unexplained.
 */

/**
 * `GET /api/markets/{id}/history` → `getMarketsByIdHistory`: the method, then the path without
 * `/api`, path parameters as `By<Name>`. Derived, so it is unique (method and path are) and a reader
 * can tell an operation's id from its route; a route may still set `operationId` itself.
 */
export function operationIdOf(method: string, url: string): string {
  const words = url
    .split('/')
    .filter((part) => part && part !== 'api')
    .map((part) => {
      const param = /^[:{](\w+)}?$/.exec(part);
      return param ? `By${capital(param[1]!)}` : part.split(/[-_.]/).map(capital).join('');
    });
  return method.toLowerCase() + words.join('');
}

const capital = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** The conventions of DESIGN.md, by (lower-case) header name; a route's own description wins. */
export const HEADER_DOCS: Record<string, { description: string; example: string }> = {
  'idempotency-key': {
    description:
      'Any unique string of printable ASCII (a UUID is best). Sending the same key again (a retry after a timeout) replays the first answer instead of trading twice; a key is kept for IDEMPOTENCY_KEY_TTL_HOURS, and reusing it with a different body is a 409.',
    example: '7f1c2a9e-3b4d-4c5e-8f6a-1b2c3d4e5f60',
  },
  'if-match': {
    description:
      'The ETag you read (`"<version>"`): the write applies only if the market is still at that version, otherwise 412 and nothing changes (optimistic concurrency). Leave it out to write whatever the current version is.',
    example: '"3"',
  },
  'if-none-match': {
    description:
      'The ETag of the copy you hold: while it is still current the answer is an empty 304 Not Modified, saving the body.',
    example: '"3"',
  },
  'last-event-id': {
    description:
      'The `id` of the last event you received: the stream resumes after it, so a reconnecting client misses nothing (browsers send it by themselves on reconnect).',
    example: '1042',
  },
};

/** Success responses that declared no description. */
const SUCCESS = { 200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No content' } as Record<string, string>;

/** What each error status looks like on the wire (the envelope of DESIGN.md), for the reference. */
export const ERROR_EXAMPLES: Record<string, { error: string; code: string; details?: unknown[] }> = {
  400: {
    error: 'Invalid querystring',
    code: 'VALIDATION_ERROR',
    details: [{ in: 'querystring', path: ['limit'], message: 'must be <= 100', code: 'maximum' }],
  },
  401: { error: 'Missing or invalid credentials', code: 'UNAUTHORIZED' },
  403: { error: 'You are not allowed to do this', code: 'FORBIDDEN' },
  404: { error: 'Market not found', code: 'NOT_FOUND' },
  408: { error: 'Request timed out', code: 'REQUEST_TIMEOUT' },
  409: { error: 'Slug "snow-in-lisbon" is already taken', code: 'SLUG_TAKEN' },
  412: { error: 'The market changed since you read it (version 4, not 3)', code: 'PRECONDITION_FAILED' },
  413: { error: 'Body too large', code: 'PAYLOAD_TOO_LARGE' },
  415: { error: 'Send JSON: content-type application/json', code: 'UNSUPPORTED_MEDIA_TYPE' },
  422: { error: 'The market is closed for trading', code: 'MARKET_CLOSED' },
  429: { error: 'Rate limit exceeded, retry in 42 seconds', code: 'RATE_LIMITED' },
  500: { error: 'Internal server error', code: 'INTERNAL_ERROR' },
  503: { error: 'Database unavailable, retry shortly', code: 'SERVICE_UNAVAILABLE' },
};

type JsonObject = Record<string, unknown>;
interface Parameter {
  in: string;
  name: string;
  description?: string;
  example?: unknown;
  schema?: JsonObject;
}
interface Response {
  description?: string;
  content?: Record<string, { schema?: JsonObject; example?: unknown }>;
}

/** Fills in, on the finished document, what every operation shares (see the top of this file). */
export function completeDocument<T extends object>(document: T): T {
  for (const [path, operations] of Object.entries((document as { paths?: JsonObject }).paths ?? {})) {
    for (const [method, operation] of Object.entries(operations as Record<string, JsonObject>)) {
      operation.operationId ??= operationIdOf(method, path);
      for (const parameter of (operation.parameters ?? []) as Parameter[]) {
        const known = parameter.in === 'header' ? HEADER_DOCS[parameter.name.toLowerCase()] : undefined;
        if (known) {
          parameter.description ??= known.description;
          parameter.example ??= known.example;
        }
      }
      for (const [status, response] of Object.entries(
        (operation.responses ?? {}) as Record<string, Response>,
      )) {
        if (!response.description || response.description === 'Default Response') {
          response.description = SUCCESS[status] ?? response.description;
        }
        const example = ERROR_EXAMPLES[status];
        const json = response.content?.['application/json'];
        if (example && json && json.example === undefined) {
          json.example = { success: false, ...example, requestId: 'b7e2c1d4-5f6a-4b8c-9d0e-1f2a3b4c5d6e' };
        }
      }
    }
  }
  return document;
}
