// One error base with a stable code and HTTP status, and the OpenAI-shaped error body.

/** The body OpenAI sends for an HTTP error. */
export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/**
 * An error that becomes an HTTP answer. `message` must be safe to show to the caller: no
 * secret, no stack, no upstream key.
 */
export class ApiError extends Error {
  readonly status: number;
  readonly type: string;
  readonly param: string | null;
  readonly code: string | null;
  /** Extra response headers (for example `retry-after`). */
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    message: string,
    opts: { type?: string; param?: string | null; code?: string | null; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.type = opts.type ?? (status >= 500 ? 'server_error' : 'invalid_request_error');
    this.param = opts.param ?? null;
    this.code = opts.code ?? null;
    this.headers = opts.headers ?? {};
  }

  toBody(): OpenAIErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** 400 for a request that fails validation. */
export function invalidRequest(message: string, param: string | null = null, code: string | null = null): ApiError {
  return new ApiError(400, message, { type: 'invalid_request_error', param, code });
}

/** 404 for an id that does not exist, has expired, or belongs to someone else. */
export function responseNotFound(id: string): ApiError {
  return new ApiError(404, `Response with id '${id}' not found.`, {
    type: 'invalid_request_error',
    param: 'response_id',
    code: 'not_found',
  });
}

/** 401 for a missing or wrong key. Never echoes the key. */
export function unauthorized(message = 'Incorrect API key provided.'): ApiError {
  return new ApiError(401, message, { type: 'invalid_request_error', code: 'invalid_api_key' });
}

/** 503 when the store cannot be reached; the client may retry later. */
export function storeUnavailable(): ApiError {
  return new ApiError(503, 'The response store is temporarily unavailable. Retry shortly.', {
    type: 'server_error',
    code: 'store_unavailable',
    headers: { 'retry-after': '1' },
  });
}

/** 503 when the limiter's store cannot be reached and the limiter fails closed. */
export function limiterUnavailable(): ApiError {
  return new ApiError(503, 'Rate limits cannot be checked right now (the limiter store is unreachable). Retry shortly.', {
    type: 'server_error',
    code: 'limiter_unavailable',
    headers: { 'retry-after': '1' },
  });
}

/** Thrown by a store when `create` finds the id already present. */
export class StoreConflictError extends Error {
  constructor(id: string) {
    super(`a record with id ${id} already exists`);
    this.name = 'StoreConflictError';
  }
}

/** Thrown when the options or the YAML configuration are invalid; lists every problem. */
export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Turns any thrown value into an ApiError; unknown errors become a generic 500. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const e = err as { type?: string; status?: number; statusCode?: number; expose?: boolean; message?: string };
  // body-parser / raw-body errors carry a status and a `type`; their messages are safe.
  if (e && e.type === 'entity.too.large') {
    return new ApiError(413, 'Request body is too large.', { code: 'request_too_large' });
  }
  if (e && e.type === 'entity.parse.failed') {
    return invalidRequest('Request body is not valid JSON.', null, 'invalid_json');
  }
  if (e && e.expose && typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
    return new ApiError(e.status, e.message ?? 'Bad request.');
  }
  return new ApiError(500, 'The server had an error while processing your request.', { type: 'server_error', code: 'server_error' });
}
