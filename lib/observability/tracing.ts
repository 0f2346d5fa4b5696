// OpenTelemetry spans through `@opentelemetry/api` when the host app has it installed (an optional
// peer, loaded once with a guarded require); without it every call here is a no-op.

import type { Request, Response } from 'express';
import type { DeploymentConfig } from '../config/options';
import { errorDetailOf } from '../response-vocabulary';
import { currentLogContext } from './request-id';

/** The span names, stated once. */
export const SPAN_NAMES = {
  create: 'responses_polling.create',
  admission: 'responses_polling.admission',
  upstreamAttempt: 'responses_polling.upstream_attempt',
  flush: 'responses_polling.flush',
  terminal: 'responses_polling.terminal',
} as const;

/** The attribute names, stated once. Never a key: only ids, model names and counts. */
export const SPAN_ATTRIBUTES = {
  requestId: 'responses_polling.request_id',
  responseId: 'responses_polling.response_id',
  model: 'responses_polling.model',
  deployment: 'responses_polling.deployment.model_name',
  deploymentModel: 'responses_polling.deployment.model',
  path: 'responses_polling.path',
  attempt: 'responses_polling.attempt',
  status: 'responses_polling.status',
  errorCode: 'responses_polling.error_code',
  events: 'responses_polling.flush.events',
  bytes: 'responses_polling.flush.bytes',
  outcome: 'responses_polling.flush.outcome',
  httpStatus: 'http.response.status_code',
} as const;

type AttributeValue = string | number | boolean;
type Attributes = Record<string, AttributeValue | undefined>;

/** The part of `@opentelemetry/api` used here (structural, so no type dependency on it). */
interface OtelSpan {
  setAttribute(key: string, value: AttributeValue): unknown;
  setStatus(status: { code: number; message?: string }): unknown;
  recordException(exception: { name: string; message: string }): unknown;
  spanContext(): { traceId: string; spanId: string; traceFlags: number };
  end(endTime?: number): void;
}
interface OtelApi {
  trace: {
    getTracer(name: string): { startSpan(name: string, options: { attributes?: Record<string, AttributeValue>; startTime?: number }, context?: unknown): OtelSpan };
    setSpan(context: unknown, span: OtelSpan): unknown;
    setSpanContext(context: unknown, spanContext: { traceId: string; spanId: string; traceFlags: number; isRemote?: boolean }): unknown;
  };
  context: { active(): unknown };
  ROOT_CONTEXT: unknown;
}

/** OpenTelemetry's `SpanStatusCode.ERROR`. */
const STATUS_ERROR = 2;
const TRACER_NAME = 'express-responses-polling';

let loaded: OtelApi | null | undefined;

/** `@opentelemetry/api`, required once; `null` when it is not installed. */
function otel(): OtelApi | null {
  if (loaded === undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      loaded = require('@opentelemetry/api') as OtelApi;
    } catch {
      loaded = null;
    }
  }
  return loaded;
}

let tracer: ReturnType<OtelApi['trace']['getTracer']> | undefined;

/**
 * Our tracer, looked up once: the API's tracer is a proxy that follows a provider registered
 * later, and a lookup per span showed in create profiles.
 */
function tracerOf(api: OtelApi): ReturnType<OtelApi['trace']['getTracer']> {
  tracer ??= api.trace.getTracer(TRACER_NAME);
  return tracer;
}

/** Where a span hangs: another span of ours, a W3C `traceparent` (carried by a queued job), or the active context. */
export type SpanParent = TraceSpan | string | undefined;

/** One span, or nothing when OpenTelemetry is not installed. Ending it twice is harmless. */
export class TraceSpan {
  private ended = false;
  private failed = false;

  /** The span of nothing: what every call gives without OpenTelemetry. */
  static readonly none = new TraceSpan(undefined);

  private constructor(private readonly span: OtelSpan | undefined) {}

  /** Starts span `name` below `parent` (the active context when absent) with `attributes`. */
  static start(name: string, attributes: Attributes, parent?: SpanParent, startTime?: number): TraceSpan {
    const api = otel();
    if (!api) return TraceSpan.none;
    const attrs: Record<string, AttributeValue> = {};
    for (const [key, value] of Object.entries(attributes)) if (value !== undefined) attrs[key] = value;
    const span = tracerOf(api).startSpan(name, { attributes: attrs, startTime }, parentContext(api, parent));
    return new TraceSpan(span);
  }

  /** Sets the attributes that are defined. */
  set(attributes: Attributes): this {
    if (this.span) for (const [key, value] of Object.entries(attributes)) if (value !== undefined) this.span.setAttribute(key, value);
    return this;
  }

  /** Records `err` on the span (its name and message, no stack) and marks it failed. */
  fail(err: unknown, code?: string): this {
    if (!this.span || this.failed) return this;
    this.failed = true;
    const message = err instanceof Error ? err.message : String(err);
    this.span.recordException({ name: err instanceof Error ? err.name : 'Error', message });
    this.span.setStatus({ code: STATUS_ERROR, message });
    if (code) this.span.setAttribute(SPAN_ATTRIBUTES.errorCode, code);
    return this;
  }

  /** Ends the span (once). */
  end(endTime?: number): void {
    if (!this.span || this.ended) return;
    this.ended = true;
    this.span.end(endTime);
  }

  /** The span as a W3C `traceparent`, for a worker that may run in another process; absent without tracing. */
  get traceParent(): string | undefined {
    if (!this.span) return undefined;
    const { traceId, spanId, traceFlags } = this.span.spanContext();
    return `00-${traceId}-${spanId}-${(traceFlags & 0xff).toString(16).padStart(2, '0')}`;
  }

  /** @internal The OpenTelemetry span, for a child. */
  get otelSpan(): OtelSpan | undefined {
    return this.span;
  }
}

const TRACE_PARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

function parentContext(api: OtelApi, parent: SpanParent): unknown {
  if (parent instanceof TraceSpan) {
    const span = parent.otelSpan;
    return span ? api.trace.setSpan(api.context.active(), span) : api.context.active();
  }
  const match = typeof parent === 'string' ? TRACE_PARENT.exec(parent) : null;
  if (!match) return api.context.active();
  return api.trace.setSpanContext(api.ROOT_CONTEXT, { traceId: match[1], spanId: match[2], traceFlags: parseInt(match[3], 16), isRemote: true });
}

const createSpans = new WeakMap<Request, TraceSpan>();

/**
 * The create span of `POST /responses` (started by whichever of the limiter and the create route
 * runs first, below the active context, and ended when the response closes).
 */
export function createSpanOf(req: Request, res: Response, requestId: string | undefined): TraceSpan {
  let span = createSpans.get(req);
  if (span) return span;
  span = TraceSpan.start(SPAN_NAMES.create, { [SPAN_ATTRIBUTES.requestId]: requestId });
  createSpans.set(req, span);
  if (span !== TraceSpan.none) {
    const started = span;
    res.once('close', () => {
      started.set({ [SPAN_ATTRIBUTES.httpStatus]: res.statusCode });
      if (res.statusCode >= 500) started.fail(new Error(`answered ${res.statusCode}`));
      started.end();
    });
  }
  return span;
}

/** The attributes that name a deployment (its model name and the model it is served by; never its key). */
export function deploymentAttributes(deployment: DeploymentConfig | undefined): Attributes {
  return { [SPAN_ATTRIBUTES.deployment]: deployment?.modelName, [SPAN_ATTRIBUTES.deploymentModel]: deployment?.model };
}

/** True when `@opentelemetry/api` is installed: callers skip listeners that would only feed no-op spans. */
export function tracingAvailable(): boolean {
  return otel() !== null;
}

/** The id attributes of a response: its id and the request id of the current context (or `requestId`). */
export function traceIds(responseId: string, requestId = currentLogContext()?.requestId): Attributes {
  return { [SPAN_ATTRIBUTES.responseId]: responseId, [SPAN_ATTRIBUTES.requestId]: requestId };
}

/** One flush batch that took `ms` and just ended, as a span below `parent`. */
export function traceFlush(
  info: { ms: number; events: number; bytes: number; outcome: string },
  ids: Attributes,
  parent: SpanParent,
): void {
  const now = Date.now();
  TraceSpan.start(
    SPAN_NAMES.flush,
    { ...ids, [SPAN_ATTRIBUTES.events]: info.events, [SPAN_ATTRIBUTES.bytes]: info.bytes, [SPAN_ATTRIBUTES.outcome]: info.outcome },
    parent,
    now - info.ms,
  ).end(now);
}

/** A terminal transition (reported once, where it was made), as a span below `parent`; a failure recorded on it. */
export function traceEnded(
  input: { id: string; path: string; status: string; response: { model?: unknown; error?: { code?: string | null; message?: string } | null } },
  parent: SpanParent,
  requestId?: string,
): void {
  const span = TraceSpan.start(
    SPAN_NAMES.terminal,
    {
      ...traceIds(input.id, requestId ?? currentLogContext()?.requestId),
      [SPAN_ATTRIBUTES.path]: input.path,
      [SPAN_ATTRIBUTES.status]: input.status,
      [SPAN_ATTRIBUTES.model]: typeof input.response.model === 'string' ? input.response.model : undefined,
    },
    parent,
  );
  const error = input.response.error;
  // The detail (`worker_lost`, `upstream_timeout`, …) says more than the OpenAI code it maps onto.
  if (input.status === 'failed' && error) span.fail(new Error(error.message ?? 'failed'), errorDetailOf(error));
  span.end();
}
