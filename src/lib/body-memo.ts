import type { FastifyReply } from 'fastify';

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
