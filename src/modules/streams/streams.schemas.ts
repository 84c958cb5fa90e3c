import { z } from 'zod';
import { errorResponses } from '../../lib/http-schemas.ts';
import { marketListQuery } from '../markets/index.ts';

/** Markets one `GET /api/events?markets=` stream may follow. */
export const MAX_STREAM_MARKETS = 50;

/** A seq: digits only, small enough to be exact as a JavaScript number. */
const seq = z
  .string()
  .regex(/^\d{1,15}$/, 'must be the id of an event (a non-negative integer)')
  .transform(Number);

const lastEventIdDescription =
  'Resume after this event id: every later event is replayed first, in order, then live ones. ' +
  'Older than the retention: one `reset` event first. Beyond the newest event: 400.';

export const streamHeaders = z.object({
  'last-event-id': seq
    .optional()
    .describe(`${lastEventIdDescription} Sent by EventSource when it reconnects; wins over ?lastEventId.`),
});

const lastEventIdQuery = seq
  .optional()
  .describe(`${lastEventIdDescription} For clients that cannot set headers.`);

export const marketStreamQuery = z.strictObject({ lastEventId: lastEventIdQuery });

export const eventsStreamQuery = z.strictObject({
  lastEventId: lastEventIdQuery,
  markets: marketListQuery(MAX_STREAM_MARKETS)
    .optional()
    .describe(`Comma-separated market ids or slugs, at most ${MAX_STREAM_MARKETS}; absent: every event`),
});

const streamDescription = [
  'Server-Sent Events. Each event: `id: <seq>`, `event: <type>` (market.created, market.updated,',
  'market.deleted, market.closed, market.resolved, market.cancelled, trade.created, comment.created,',
  'comment.deleted), `data: <the JSON the REST API answers for that change>`. `: ping` comments keep',
  'the connection alive. `event: reset` (`data: {"reason", "lastSeq"}`): the resume point is older',
  'than the retention; refetch, then continue. `event: end` (`data: {"reason"}`: shutting-down,',
  'slow-consumer, database-unavailable): the server closes the stream; reconnect with Last-Event-ID.',
].join(' ');

/** The 200 of a stream, documented as text/event-stream (the route writes it itself). */
export const streamResponses = {
  200: {
    description: streamDescription,
    content: { 'text/event-stream': { schema: z.string() } },
  },
  ...errorResponses(400, 404, 429, 503),
};
