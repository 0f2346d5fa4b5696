// The Responses vocabulary, stated once: statuses, lifecycle event types, the error codes a response can end with and our details of them.

/** Every status a Response can have, in lifecycle order. */
export const RESPONSE_STATUSES = ['queued', 'in_progress', 'completed', 'failed', 'incomplete', 'cancelled'] as const;

/** Every status a Response can have. */
export type ResponseStatus = (typeof RESPONSE_STATUSES)[number];

/** Statuses after which nothing about a response changes any more. */
export const TERMINAL_STATUSES: readonly ResponseStatus[] = ['completed', 'failed', 'incomplete', 'cancelled'];

const STATUS_SET: ReadonlySet<string> = new Set(RESPONSE_STATUSES);
const TERMINAL_SET: ReadonlySet<string> = new Set(TERMINAL_STATUSES);

/** True when `value` is one of {@link RESPONSE_STATUSES}. */
export function isResponseStatus(value: unknown): value is ResponseStatus {
  return typeof value === 'string' && STATUS_SET.has(value);
}

/** True when `status` is one of {@link TERMINAL_STATUSES}. */
export function isTerminalStatus(status: string | undefined | null): boolean {
  return typeof status === 'string' && TERMINAL_SET.has(status);
}

/** Lifecycle events that open a stream; `response.created` keeps the current status. */
export const START_EVENT_TYPES = ['response.created', 'response.queued', 'response.in_progress'] as const;

/** Lifecycle events that end a stream, each carrying the final Response. */
export const FINAL_EVENT_TYPES = ['response.completed', 'response.failed', 'response.incomplete'] as const;

/** One of {@link FINAL_EVENT_TYPES}. */
export type FinalEventType = (typeof FINAL_EVENT_TYPES)[number];

/**
 * The event a provider's webhook (not its SSE stream) sends for a cancelled response; a relayed
 * stream that carries one is treated as ended too.
 */
export const CANCELLED_EVENT_TYPE = 'response.cancelled';

/** Lifecycle event types with the status each implies (`null`: keeps the current one). */
export const LIFECYCLE_EVENT_STATUS: ReadonlyMap<string, ResponseStatus | null> = new Map<string, ResponseStatus | null>([
  ['response.created', null],
  ['response.queued', 'queued'],
  ['response.in_progress', 'in_progress'],
  ['response.completed', 'completed'],
  ['response.failed', 'failed'],
  ['response.incomplete', 'incomplete'],
]);

const START_SET: ReadonlySet<string> = new Set(START_EVENT_TYPES);
const FINAL_SET: ReadonlySet<string> = new Set(FINAL_EVENT_TYPES);

/** True for an event type of {@link START_EVENT_TYPES}. */
export function isStartEventType(type: unknown): boolean {
  return typeof type === 'string' && START_SET.has(type);
}

/** True for an event type of {@link FINAL_EVENT_TYPES}. */
export function isFinalEventType(type: unknown): type is FinalEventType {
  return typeof type === 'string' && FINAL_SET.has(type);
}

/** The `incomplete_details.reason` of a response cut at its `max_output_tokens`. */
export const MAX_OUTPUT_TOKENS_REASON = 'max_output_tokens';

/**
 * The codes a Response's `error.code` may carry: OpenAI's `ResponseErrorCode` enum
 * (`components.schemas.ResponseErrorCode` of its OpenAPI spec), in the spec's order. Every failed
 * Response this package produces carries one of them; what went wrong in detail is the prefix of
 * its message (see {@link ERROR_DETAILS}).
 */
export const RESPONSE_ERROR_CODES = [
  'server_error',
  'rate_limit_exceeded',
  'invalid_prompt',
  'data_residency_mismatch',
  'bio_policy',
  'vector_store_timeout',
  'invalid_image',
  'invalid_image_format',
  'invalid_base64_image',
  'invalid_image_url',
  'image_too_large',
  'image_too_small',
  'image_parse_error',
  'image_content_policy_violation',
  'invalid_image_mode',
  'image_file_too_large',
  'unsupported_image_media_type',
  'empty_image_file',
  'failed_to_download_image',
  'image_file_not_found',
] as const;

/** One of {@link RESPONSE_ERROR_CODES}. */
export type ResponseErrorCode = (typeof RESPONSE_ERROR_CODES)[number];

const ERROR_CODE_SET: ReadonlySet<string> = new Set(RESPONSE_ERROR_CODES);

/** True when `value` is one of {@link RESPONSE_ERROR_CODES}. */
export function isResponseErrorCode(value: unknown): value is ResponseErrorCode {
  return typeof value === 'string' && ERROR_CODE_SET.has(value);
}

/**
 * What ended a Response `failed`, in detail: the prefix of its `error.message`
 * (`"<detail>: <text>"`), and the label of logs, spans and `onResponseFinished`'s `errorDetail`.
 * An error the upstream itself reported with a code outside {@link RESPONSE_ERROR_CODES} has that
 * code as its detail instead.
 */
export const ERROR_DETAILS = {
  /** The upstream answered a non-2xx status other than 429, or reported an error without a code. */
  upstreamHttp: 'upstream_error',
  /** The upstream answered 429. */
  upstreamRateLimited: 'upstream_rate_limited',
  upstreamConnection: 'upstream_connection_error',
  upstreamTimeout: 'upstream_timeout',
  /** The stream ended without a terminal event. */
  streamIncomplete: 'upstream_stream_incomplete',
  upstreamEventTooLarge: 'upstream_event_too_large',
  responseTooLarge: 'response_too_large',
  responseTimeLimit: 'response_time_limit',
  shutdown: 'server_shutdown',
  /** An unexpected error of this package (details only in its log). */
  internal: 'internal_error',
  /** Set by the store on a response whose worker's lease lapsed. */
  workerLost: 'worker_lost',
  /** It waited `queued` longer than `worker.maxQueueMs`. */
  queueTimeout: 'queue_timeout',
  /** Its workers died `worker.maxClaimAttempts` times before its upstream answered. */
  claimAttemptsExhausted: 'claim_attempts_exhausted',
  /** Its queue job could not be read. */
  unreadableJob: 'unreadable_job',
} as const;

/** One of {@link ERROR_DETAILS}. */
export type ErrorDetail = (typeof ERROR_DETAILS)[keyof typeof ERROR_DETAILS];

/** Details that mean capacity ran out: their code is `rate_limit_exceeded`, every other's `server_error`. */
const RATE_LIMITED_DETAILS: ReadonlySet<string> = new Set<string>([ERROR_DETAILS.upstreamRateLimited, ERROR_DETAILS.queueTimeout]);

/** A detail as it may lead a message: a short token, so a program can split it off at the first `": "`. */
const DETAIL_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
const DETAIL_PREFIX = /^([A-Za-z0-9_.-]{1,64}): /;

/**
 * The error of a Response this package fails itself: an enum code and `"<detail>: <text>"`.
 * @param detail what went wrong, one of {@link ERROR_DETAILS}
 * @param text a sentence for a person
 */
export function responseError(detail: ErrorDetail, text: string): { code: ResponseErrorCode; message: string } {
  return { code: RATE_LIMITED_DETAILS.has(detail) ? 'rate_limit_exceeded' : 'server_error', message: `${detail}: ${text}` };
}

/**
 * The error an upstream reported (an `error` event, the error of its `response.failed`), made
 * conformant: a code of {@link RESPONSE_ERROR_CODES} is kept with the upstream's message as it is;
 * any other becomes `server_error` with the upstream's code as the detail, `"<its code>: <message>"`
 * (`upstream_error` when it sent none, or none a detail can carry). Idempotent: its result maps
 * to itself, so a fold may apply it again.
 */
export function conformUpstreamError(code: unknown, message: string): { code: ResponseErrorCode; message: string } {
  if (isResponseErrorCode(code)) return { code, message };
  const detail = typeof code === 'string' && DETAIL_PATTERN.test(code) ? code : ERROR_DETAILS.upstreamHttp;
  return { code: 'server_error', message: `${detail}: ${message}` };
}

/**
 * The detail of a failed Response's error: the prefix of its message (see {@link ERROR_DETAILS}),
 * else its code (an upstream's own error with an enum code). `undefined` without an error.
 */
export function errorDetailOf(error: { code?: unknown; message?: unknown } | null | undefined): string | undefined {
  if (!error) return undefined;
  const prefix = typeof error.message === 'string' ? DETAIL_PREFIX.exec(error.message) : null;
  if (prefix) return prefix[1];
  return typeof error.code === 'string' && error.code !== '' ? error.code : undefined;
}

/**
 * True for a valid position in an event (`output_index`, `content_index`, `sequence_number`): a
 * non-negative safe integer. Larger numbers are not exact in JSON, so they index nothing.
 */
export function isIndex(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
