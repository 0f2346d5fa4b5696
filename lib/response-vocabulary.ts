// The Responses vocabulary, stated once: statuses, lifecycle event types and the error codes a response can end with.

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

/** Error codes a worker writes on a response it ends as `failed`. */
export const WORKER_ERROR_CODES = {
  upstreamHttp: 'upstream_error',
  upstreamRateLimited: 'rate_limit_exceeded',
  upstreamConnection: 'upstream_connection_error',
  upstreamTimeout: 'upstream_timeout',
  streamIncomplete: 'upstream_stream_incomplete',
  upstreamEventTooLarge: 'upstream_event_too_large',
  responseTooLarge: 'response_too_large',
  responseTimeLimit: 'response_time_limit',
  shutdown: 'server_shutdown',
  internal: 'server_error',
} as const;

/** The `incomplete_details.reason` of a response cut at its `max_output_tokens`. */
export const MAX_OUTPUT_TOKENS_REASON = 'max_output_tokens';

/** Error codes a response can end with: the worker's, plus the store's for a lapsed lease. */
export const RESPONSE_ERROR_CODES = {
  ...WORKER_ERROR_CODES,
  /** Set by the store on a response whose worker's lease lapsed. */
  workerLost: 'worker_lost',
} as const;

/**
 * True for a valid position in an event (`output_index`, `content_index`, `sequence_number`): a
 * non-negative safe integer. Larger numbers are not exact in JSON, so they index nothing.
 */
export function isIndex(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
