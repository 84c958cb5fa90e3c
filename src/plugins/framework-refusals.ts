import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { ConnectionError, FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { ApiError } from '../lib/errors.ts';
import { envelopeOf } from './error-handler.ts';
import { REFUSAL_SECURITY_HEADERS } from './security-headers.ts';

function refusalFor(error: ConnectionError): ApiError {
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT')
    return new ApiError(408, 'REQUEST_TIMEOUT', 'The request was not received in time');
  if (error.code === 'HPE_HEADER_OVERFLOW')
    return new ApiError(431, 'HEADERS_TOO_LARGE', 'The request headers are too large');
  return new ApiError(400, 'BAD_REQUEST', 'The request is not valid HTTP/1.1');
}

/**
 * Fastify's `clientErrorHandler`: Node could not parse a request (bad bytes, a bare LF, both
 * Content-Length and Transfer-Encoding, a bad chunk size, headers over the size limit) or did not
 * receive it in time. No request or reply exists, so the envelope is written on the socket by
 * hand, with a fresh request id in the body and in x-request-id, and the connection is closed:
 * after a framing error nothing else on it can be trusted.
 */
export function clientErrorHandler(this: FastifyInstance, error: ConnectionError, socket: Socket) {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  // A response already under way (the route answered before the body had arrived) cannot be
  // followed by another on the same socket: only cut it.
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (inFlight?.headersSent || !socket.writable) {
    socket.destroy();
    return;
  }
  const refusal = refusalFor(error);
  const requestId = randomUUID();
  const body = JSON.stringify(envelopeOf(refusal, requestId));
  // The request line is at the start of the chunk Node was parsing; a HEAD gets no body.
  const packet = (error as unknown as { rawPacket?: Buffer }).rawPacket;
  const head = packet?.subarray(0, 5).toString('latin1') === 'HEAD ';
  socket.end(
    [
      `HTTP/1.1 ${refusal.statusCode} ${STATUS_CODES[refusal.statusCode]}`,
      'content-type: application/json; charset=utf-8',
      `content-length: ${Buffer.byteLength(body)}`,
      `x-request-id: ${requestId}`,
      ...Object.entries(REFUSAL_SECURITY_HEADERS).map(([name, value]) => `${name}: ${value}`),
      'connection: close',
      '',
      head ? '' : body,
    ].join('\r\n'),
    () => socket.destroy(),
  );
  this.log.warn(
    { requestId, route: 'unparsed', status: refusal.statusCode, reason: error.code },
    'request completed',
  );
}

/**
 * Refusals Node would otherwise send itself, empty and without a request id, go through the app
 * instead: a request without Host (Node's own check is off, see connection-limits.ts), and an
 * Expect header other than 100-continue (417; Node hands such requests to 'checkExpectation').
 */
export const frameworkRefusalsPlugin = fp(
  async (app: FastifyInstance) => {
    app.server.on('checkExpectation', (req, res) => app.routing(req, res));
    app.addHook('onRequest', (request, _reply, done) => {
      if (request.raw.httpVersion === '1.1' && request.headers.host === undefined) {
        return done(new ApiError(400, 'BAD_REQUEST', 'The Host header is required'));
      }
      const expect = request.headers.expect;
      if (expect !== undefined && !/^100-continue$/i.test(expect)) {
        return done(new ApiError(417, 'EXPECTATION_FAILED', 'Only "Expect: 100-continue" is supported'));
      }
      done();
    });
  },
  { name: 'framework-refusals', dependencies: ['error-handler'] },
);
