// The Response shapes this package handles: a Response, its output items, its error, a stream event.
// Re-exported by types.ts.

import type { ResponseErrorCode, ResponseStatus } from './response-vocabulary';

/** `{code, message}` as carried by a failed Response: one of OpenAI's codes, and `"<detail>: <text>"` (see `ERROR_DETAILS`). */
export interface ResponseErrorObject {
  code: ResponseErrorCode;
  message: string;
}

/**
 * A Responses API `Response` object. Only the fields this package reads or writes are typed;
 * every other field the upstream sends is kept as it is.
 */
export interface ResponseObject {
  id: string;
  object: 'response';
  created_at: number;
  status: ResponseStatus;
  /** Unix seconds; set only when `status` is `completed`. */
  completed_at?: number | null;
  error: ResponseErrorObject | null;
  incomplete_details: { reason: string } | null;
  model: string;
  output: OutputItem[];
  usage?: Record<string, unknown> | null;
  metadata?: Record<string, string> | null;
  background?: boolean | null;
  [field: string]: unknown;
}

/** One item of `Response.output` (message, function_call, reasoning, or any other type). */
export interface OutputItem {
  type: string;
  id?: string;
  status?: string;
  [field: string]: unknown;
}

/** One event of a Responses stream. */
export interface ResponseStreamEvent {
  type: string;
  sequence_number: number;
  [field: string]: unknown;
}
