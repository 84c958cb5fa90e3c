/** The one error type services throw; the error handler turns it into the response envelope. */
export class ApiError extends Error {
  readonly statusCode: number;
  readonly code: string;
  readonly details: unknown[] | undefined;
  /** Sent as the Retry-After header (seconds): when a retry may succeed. */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    statusCode: number,
    code: string,
    message: string,
    details?: unknown[],
    retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'ApiError';
    this.statusCode = statusCode;
    this.code = code;
    this.details = details;
    this.retryAfterSeconds = retryAfterSeconds;
  }

  static badRequest(message: string, details?: unknown[]) {
    return new ApiError(400, 'BAD_REQUEST', message, details);
  }
  static unauthorized(message: string) {
    return new ApiError(401, 'UNAUTHORIZED', message);
  }
  static forbidden(message = 'You are not allowed to do this') {
    return new ApiError(403, 'FORBIDDEN', message);
  }
  static notFound(what: string) {
    return new ApiError(404, 'NOT_FOUND', `${what} not found`);
  }
  static conflict(message: string, code = 'CONFLICT') {
    return new ApiError(409, code, message);
  }
  static preconditionFailed(message: string) {
    return new ApiError(412, 'PRECONDITION_FAILED', message);
  }
  static unprocessable(message: string, code = 'UNPROCESSABLE') {
    return new ApiError(422, code, message);
  }
  static unavailable(message: string, retryAfterSeconds?: number) {
    return new ApiError(503, 'SERVICE_UNAVAILABLE', message, undefined, retryAfterSeconds);
  }
}
