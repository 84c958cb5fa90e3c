import type { FastifyReply, FastifyRequest } from 'fastify';
import { etagOfBody, ifNoneMatchHolds } from './conditional.ts';

/**
 * Past this length a stored body is kept as its bytes. A string is encoded again by every reply
 * that sends it (19 KB for a page of 20 markets: list-cache hits served 6-12 % more as bytes),
 * but node:http writes a string body in one piece with the headers, a Buffer as a second one
 * (hits on one market, about 1 KB, served 6 % less as bytes).
 */
const BYTES_FROM = 8 * 1024;

/**
 * The payload serialised by the route's own serializer (its response schema decides what leaves
 * the process, as for any reply), as it is to be sent again and again.
 */
function serialized(reply: FastifyReply, payload: unknown): string | Buffer {
  const json = reply.serialize(payload) as string;
  return json.length < BYTES_FROM ? json : Buffer.from(json);
}

/**
 * Sends a payload serialised once per key object. For objects a cache hands out again and again,
 * which are frozen (cache.ts freezes what it hands out; viewOf and sharedList what they build from
 * it): later replies send the stored body. Any other key is seen once: its body is not stored.
 * Keys are held weakly.
 */
export function createBodyMemo<K extends object>() {
  const bodies = new WeakMap<K, string | Buffer>();
  return (reply: FastifyReply, key: K, payload: () => unknown): FastifyReply => {
    let body = bodies.get(key);
    if (body === undefined) {
      body = serialized(reply, payload());
      if (Object.isFrozen(key)) bodies.set(key, body);
    }
    return reply.type('application/json; charset=utf-8').send(body);
  };
}

/**
 * The same, with an ETag over the body (hashed with the serialisation, both stored for frozen
 * keys only) and a 304 without a body when the request's If-None-Match holds it. For reads whose
 * ETag cannot be a row version: a list page changes when any of its rows does, or when time turns
 * a market's status. The route declares a 304 response.
 */
export function createTaggedBodyMemo<K extends object>() {
  const bodies = new WeakMap<K, { body: string | Buffer; etag: string }>();
  return (request: FastifyRequest, reply: FastifyReply, key: K, payload: () => unknown): FastifyReply => {
    let entry = bodies.get(key);
    if (entry === undefined) {
      const body = serialized(reply, payload());
      entry = { body, etag: etagOfBody(body) };
      if (Object.isFrozen(key)) bodies.set(key, entry);
    }
    reply.header('etag', entry.etag);
    if (ifNoneMatchHolds(request.headers['if-none-match'], entry.etag)) return reply.code(304).send(null);
    return reply.type('application/json; charset=utf-8').send(entry.body);
  };
}
