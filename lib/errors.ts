// The errors of the package: HTTP answers (ApiError, with the OpenAI-shaped body), and one base with
// stable codes for the errors raised outside HTTP (configuration, store, upstream), with the codes
// of start-up warnings beside them.

/**
 * Stable codes of the errors raised outside HTTP answers, one per kind; match on `err.code`, never
 * on the message.
 */
export const ERROR_CODES = {
  /** The options or the YAML configuration are invalid ({@link ConfigError}). */
  configInvalid: 'config_invalid',
  /** The store could not be reached in time (the Redis store's `RedisStoreUnavailableError`). */
  storeUnavailable: 'store_unavailable',
  /** A store's `create` found the id already present ({@link StoreConflictError}). */
  storeConflict: 'store_conflict',
  /** Part of a stored response is gone (Redis evicted or lost one of its keys) ({@link StoreRecordLostError}). */
  responseDataLost: 'response_data_lost',
  /** An upstream request ended without a usable answer (`UpstreamError`; its `kind` says how). */
  upstreamFailed: 'upstream_failed',
  /** A create found its deployment group's queue full (`worker.maxQueued`) ({@link QueueFullError}). */
  queueFull: 'queue_full',
} as const;

/** One of {@link ERROR_CODES}. */
export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

/** The base of the errors raised outside HTTP answers: a message safe to log, and a stable code. */
export class ResponsesPollingError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ResponsesPollingError';
    this.code = code;
  }
}

/**
 * Stable codes of the warnings logged at start-up (in the `code` field of the log line): settings
 * that work, but not as their author probably meant.
 */
export const WARNING_CODES = {
  /** No Redis is configured: the in-memory store serves one process only. */
  memoryStore: 'memory_store',
  /** A store was given without a limiter: limits are counted per process. */
  limiterPerProcess: 'limiter_per_process',
  /** `pollingViaCache` names providers that no deployment uses. */
  pollingProviderUnused: 'polling_provider_unused',
  /** `nativeBackgroundMode` names models that match no deployment. */
  nativeModelUnmatched: 'native_model_unmatched',
  /** A virtual key allows models that match no deployment. */
  virtualKeyModelUnserved: 'virtual_key_model_unserved',
  /** A YAML file sets LiteLLM settings this package does not use. */
  yamlSettingIgnored: 'yaml_setting_ignored',
  /** An `os.environ/` variable that a setting reads is not set. */
  yamlVariableUnset: 'yaml_variable_unset',
  /** A YAML deployment names a model without a provider prefix (read as openai). */
  yamlModelInferred: 'yaml_model_inferred',
  /** A YAML deployment cannot be served (no model name) or reached (no api_base): skipped. */
  yamlDeploymentSkipped: 'yaml_deployment_skipped',
  /** `router_settings.routing_strategy` is not implemented here. */
  yamlRoutingStrategy: 'yaml_routing_strategy',
  /** `cache_params.type` is not redis: the in-memory store is used. */
  yamlCacheType: 'yaml_cache_type',
  /** Two routers alive in one process serve from different in-memory stores: each answers 404 for the other's ids. */
  separateMemoryStores: 'separate_memory_stores',
  /** The Redis of the store runs a `maxmemory-policy` that may evict response keys (anything but `noeviction`). */
  redisEvictionPolicy: 'redis_eviction_policy',
} as const;

/** One of {@link WARNING_CODES}. */
export type WarningCode = (typeof WARNING_CODES)[keyof typeof WARNING_CODES];

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
export class StoreConflictError extends ResponsesPollingError {
  constructor(id: string) {
    super(ERROR_CODES.storeConflict, `a record with id ${id} already exists`);
    this.name = 'StoreConflictError';
  }
}

/** Thrown by a store when `create` finds the queue of the response's deployment group full; nothing was stored. */
export class QueueFullError extends ResponsesPollingError {
  readonly group: string;
  constructor(group: string) {
    super(ERROR_CODES.queueFull, `the queue of deployment group ${group} is full`);
    this.name = 'QueueFullError';
    this.group = group;
  }
}

/**
 * Thrown by a store read that finds a record partly gone: its meta is there, but its snapshot
 * or part of its event log is not (Redis evicted or lost a key). Never answered as data.
 */
export class StoreRecordLostError extends ResponsesPollingError {
  /** Whether the response had ended: then nothing will ever rebuild it. */
  readonly terminal: boolean;
  /** The response whose record is partly gone. */
  readonly responseId: string;
  constructor(id: string, part: 'snapshot' | 'log', terminal: boolean) {
    super(ERROR_CODES.responseDataLost, `the ${part} of response ${id} is gone from the store`);
    this.name = 'StoreRecordLostError';
    this.terminal = terminal;
    this.responseId = id;
  }
}

/**
 * The answer to a read that found its record partly gone: 410 once the response has ended
 * (nothing will rebuild it), else 503 with `retry-after` (it is still running).
 */
export function responseDataLost(id: string, terminal: boolean): ApiError {
  const what = `Part of the stored data of response '${id}' was lost (the store evicted or removed one of its keys)`;
  return terminal
    ? new ApiError(410, `${what}; it cannot be served.`, { type: 'server_error', param: 'response_id', code: ERROR_CODES.responseDataLost })
    : new ApiError(503, `${what}; the response has not ended yet. Retry shortly.`, {
        type: 'server_error',
        param: 'response_id',
        code: ERROR_CODES.responseDataLost,
        headers: { 'retry-after': '1' },
      });
}

/** Thrown when the options or the YAML configuration are invalid; lists every problem. */
export class ConfigError extends ResponsesPollingError {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(ERROR_CODES.configInvalid, `Invalid configuration:\n  - ${problems.join('\n  - ')}`);
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
