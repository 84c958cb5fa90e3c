import type { FastifyReply, FastifyRequest } from 'fastify';
import { etagOfBody, ifNoneMatchHolds } from './conditional.ts';

/**
 * Sends a payload serialised once per key object, by the route's own serializer (its response
 * schema decides what leaves the process, as for any reply). For objects a cache hands out again
 * and again: later replies send the stored JSON. Keys are held weakly.
 */
export function createBodyMemo<K extends object>() {
  const bodies = new WeakMap<K, string>();
  return (reply: FastifyReply, key: K, payload: () => unknown): FastifyReply => {
    let body = bodies.get(key);
    if (body === undefined) {
      body = reply.serialize(payload()) as string;
      bodies.set(key, body);
    }
    return reply.type('application/json; charset=utf-8').send(body);
  };
}

/**
 * The same, with an ETag over the body (hashed once per key object, like the serialisation) and
 * a 304 without a body when the request's If-None-Match holds it. For reads whose ETag cannot be
 * a row version: a list page changes when any of its rows does, or when time turns a market's
 * status. The route declares a 304 response.
 */
export function createTaggedBodyMemo<K extends object>() {
  const bodies = new WeakMap<K, { body: string; etag: string }>();
  return (request: FastifyRequest, reply: FastifyReply, key: K, payload: () => unknown): FastifyReply => {
    let entry = bodies.get(key);
    if (entry === undefined) {
      const body = reply.serialize(payload()) as string;
      entry = { body, etag: etagOfBody(body) };
      bodies.set(key, entry);
    }
    reply.header('etag', entry.etag);
    if (ifNoneMatchHolds(request.headers['if-none-match'], entry.etag)) return reply.code(304).send(null);
    return reply.type('application/json; charset=utf-8').send(entry.body);
  };
}
