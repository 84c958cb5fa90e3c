import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { isConnectionError, isDataRefusal, isRetryableTransactionError, pgErrorCode } from '../db/errors.ts';
import { DomainError } from '../domain/domain-errors.ts';
import { ApiError } from '../lib/errors.ts';
import { fromDomainError } from './domain-error-statuses.ts';
import { logRequestCompleted } from './request-context.ts';
import { REFUSAL_SECURITY_HEADERS } from './security-headers.ts';

const FASTIFY_CODES: Record<string, { status: number; code: string; message?: string }> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
    message: 'Content-Type must be application/json',
  },
  FST_ERR_CTP_BODY_TOO_LARGE: {
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
    message: 'Request body is too large',
  },
  FST_ERR_CTP_EMPTY_JSON_BODY: {
    status: 400,
    code: 'INVALID_JSON',
    message: 'Body is empty but Content-Type is application/json',
  },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'INVALID_JSON', message: 'Body is not valid JSON' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    status: 400,
    code: 'BAD_REQUEST',
    message: 'Content-Length does not match the body',
  },
};

/** Contention and timeouts pass within moments: one second is a fair first wait. */
const RETRY_AFTER_SECONDS = 1;

/** The failure envelope of every refusal (also written by hand where Fastify has no reply: framework-refusals.ts). */
export function envelopeOf(error: ApiError, requestId: string) {
  return {
    success: false as const,
    error: error.message,
    code: error.code,
    ...(error.details && { details: error.details }),
    requestId,
  };
}

function send(request: FastifyRequest, reply: FastifyReply, error: ApiError) {
  if (error.retryAfterSeconds !== undefined) reply.header('retry-after', String(error.retryAfterSeconds));
  return reply.status(error.statusCode).send(envelopeOf(error, request.id));
}

/** Maps anything thrown to the envelope; hides every 5xx's internals and logs its stack. */
export function toApiError(error: FastifyError | Error): ApiError | undefined {
  if (error instanceof ApiError) return error;
  if (error instanceof DomainError) return fromDomainError(error);
  const fe = error as FastifyError;
  if (fe.validation) {
    const where = fe.validationContext ?? 'request';
    return new ApiError(
      400,
      'VALIDATION_ERROR',
      `Invalid ${where}`,
      fe.validation.map((issue) => ({
        in: where,
        path: issue.instancePath.split('/').filter(Boolean),
        message: issue.message,
        code: issue.keyword,
      })),
    );
  }
  const known = fe.code ? FASTIFY_CODES[fe.code] : undefined;
  if (known) return new ApiError(known.status, known.code, known.message ?? fe.message);
  if (error instanceof SyntaxError && fe.statusCode === 400)
    return new ApiError(400, 'INVALID_JSON', 'Body is not valid JSON');
  if (fe.statusCode === 429) return new ApiError(429, 'RATE_LIMITED', fe.message);
  if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500)
    return new ApiError(fe.statusCode, 'BAD_REQUEST', fe.message);
  if (isConnectionError(error)) return ApiError.unavailable('Database unavailable, retry shortly');
  const pgCode = pgErrorCode(error);
  if (pgCode === '57014') return ApiError.unavailable('Database query timed out', RETRY_AFTER_SECONDS);
  // Still a deadlock or serialization failure once inTransaction's retries are spent: contention
  // that passes, so the client is told to come back rather than given a 500.
  if (isRetryableTransactionError(error))
    return ApiError.unavailable(
      'The database is busy with conflicting writes; retry shortly',
      RETRY_AFTER_SECONDS,
    );
  // Input that passed validation but holds what PostgreSQL cannot store in text (a NUL byte).
  if (pgCode === '22021' || pgCode === '22P05')
    return new ApiError(400, 'BAD_REQUEST', 'Text must not contain NUL (\\u0000) characters');
  // Validation should have caught it; the client still sent a value no column can hold.
  if (isDataRefusal(error))
    return new ApiError(
      400,
      'BAD_REQUEST',
      'A value is outside what can be stored (out of range or malformed)',
    );
  return undefined;
}

async function errorHandler(app: FastifyInstance) {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const apiError = toApiError(error);
    // A 4xx, database refusals included, is the client's: its request line (warn) is the log.
    if (apiError && apiError.statusCode < 500) return send(request, reply, apiError);
    // A 503 is a known dependency fault (database away, deadline, contention): an outage answers
    // hundreds of them a second, so its cause is a warning without a stack, not an error each.
    if (apiError?.statusCode === 503) {
      request.log.warn({ cause: pgErrorCode(error) ?? error.message }, apiError.message);
      return send(request, reply, apiError);
    }
    request.log.error(
      { err: error, method: request.method, url: request.url, params: request.params },
      apiError ? apiError.message : 'unhandled error',
    );
    return send(request, reply, apiError ?? new ApiError(500, 'INTERNAL_ERROR', 'Internal server error'));
  });

  app.setNotFoundHandler((request, reply) =>
    send(
      request,
      reply,
      new ApiError(404, 'NOT_FOUND', `Route ${request.method} ${request.url.split('?')[0]} not found`),
    ),
  );
}

export const errorHandlerPlugin = fp(errorHandler, { name: 'error-handler', dependencies: [] });

/**
 * Fastify's `frameworkErrors`: a URL the router cannot decode (`/api/markets/%zz`) or a path
 * parameter over maxParamLength fails before any route or hook runs. Answer in the envelope,
 * with the request id, and log the request line the onResponse hook would have written.
 */
export function frameworkErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const apiError =
    error.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? new ApiError(400, 'BAD_REQUEST', 'A path parameter is too long')
      : new ApiError(400, 'BAD_REQUEST', 'The URL is not valid (bad percent-encoding?)');
  reply.header('x-request-id', request.id).headers(REFUSAL_SECURITY_HEADERS);
  send(request, reply, apiError);
  logRequestCompleted(request, reply, 'unroutable');
}
