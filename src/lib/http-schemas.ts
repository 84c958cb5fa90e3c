import { z } from 'zod';

/** The failure envelope of DESIGN.md, shared by every error response. */
export const errorEnvelope = z
  .object({
    success: z.literal(false),
    error: z.string(),
    code: z.string(),
    details: z.array(z.unknown()).optional(),
    requestId: z.string(),
  })
  .meta({ id: 'Error' });

const ERROR_DESCRIPTIONS = {
  400: 'Invalid input',
  401: 'Missing or invalid credentials',
  403: 'Not allowed',
  404: 'Not found',
  409: 'Conflict',
  412: 'Stale If-Match version',
  413: 'Body too large',
  415: 'Unsupported content type',
  422: 'Business rule refused',
  429: 'Rate limited',
  503: 'A dependency is down',
} as const;

export type ErrorStatus = keyof typeof ERROR_DESCRIPTIONS;

/** Response schemas for the error statuses a route can return (500 is on every route). */
export function errorResponses(...statuses: ErrorStatus[]) {
  const out: Record<number, typeof errorEnvelope> = { 500: errorEnvelope.describe('Unexpected error') };
  for (const s of statuses) out[s] = errorEnvelope.describe(ERROR_DESCRIPTIONS[s]);
  return out;
}

/** `{ success: true, data }` around a data schema. */
export function ok<T extends z.ZodType>(data: T) {
  return z.object({ success: z.literal(true), data });
}

export const uuid = z.uuid();

/** A keyset page's `cursor` query parameter: the opaque position the previous page answered. */
export const pageCursor = z
  .string()
  .min(1)
  .max(500)
  .optional()
  .describe('Continue after the previous page: its `meta.nextCursor`');
