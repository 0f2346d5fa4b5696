// Turning upstream messages into our events: parses each SSE message (Responses events, or Chat
// Completions chunks through the adapter), numbers it, scrubs secrets and folds it into the Response.

import type { DeploymentConfig } from '../config/options';
import { conformUpstreamError, isFinalEventType, isIndex, isStartEventType, MAX_OUTPUT_TOKENS_REASON } from '../response-vocabulary';
import type { Logger, ResponseErrorObject, ResponseObject, ResponseStatus, ResponseStreamEvent } from '../types';
import { ChatStreamAdapter } from '../upstream/chat-stream-adapter';
import { keyInJson, redactSecrets, scrubErrorFields, scrubKey } from '../upstream/scrub';
import { isRecord } from '../json';
import { applyEvent, foldEvent } from './reducer';

/**
 * Where our events go, each once it is folded into the Response. `status` is the status the
 * event moves the response to, when it moves it (`in_progress` at the start, the terminal one at
 * the end); `before` is the Response before the fold (a delta folded in place changes only text,
 * so its item ids are still those that preceded the event).
 */
export type EventSink = (event: ResponseStreamEvent, status: ResponseStatus | undefined, before: ResponseObject) => void;

/**
 * Deltas that each carry at least one output token: counting them never exceeds the tokens the
 * upstream produced, so a response is cut at `max_output_tokens` only once it is surely past it.
 */
const OUTPUT_DELTA_TYPES: ReadonlySet<string> = new Set([
  'response.output_text.delta',
  'response.refusal.delta',
  'response.function_call_arguments.delta',
  'response.reasoning_text.delta',
]);

/** How far our events have taken the response. */
export type Progress = 'queued' | 'in_progress' | 'ended';

/** Turns the messages of one response's upstream attempts into our numbered, folded events. */
export class UpstreamEvents {
  /** Number of upstream SSE messages that were not valid JSON and were skipped. */
  malformedEvents = 0;
  private current: ResponseObject;
  private nextSeq: number;
  private progress: Progress = 'queued';
  /** The deployment of the current attempt: its key is scrubbed from what it sends. */
  private deployment: DeploymentConfig | undefined;
  /** Whether a message's text may hold the deployment's key (see keyInJson). */
  private mayHoldKey: (json: string) => boolean = () => true;
  /** Turns Chat Completions chunks into Responses events, for chat deployments. */
  private chat: ChatStreamAdapter | undefined;
  /** Output deltas folded so far (see OUTPUT_DELTA_TYPES). */
  private outputDeltas = 0;
  private cut = false;
  /** The upstream's own id of the response (from its start event), for a Responses deployment. */
  private upstream: string | undefined;

  /** `maxOutputTokens`: the request's `max_output_tokens`, enforced on the deltas. */
  constructor(
    state: ResponseObject,
    nextSeq: number,
    private readonly sink: EventSink,
    private readonly logger: Logger,
    private readonly id: string,
    private readonly maxOutputTokens: number | undefined,
  ) {
    this.current = state;
    this.nextSeq = nextSeq;
  }

  /** The Response as folded so far. */
  get state(): ResponseObject {
    return this.current;
  }

  /** Sequence number of the next event. */
  get next(): number {
    return this.nextSeq;
  }

  /** The upstream's own id of the response, once its start event named it (Responses deployments only). */
  get upstreamId(): string | undefined {
    return this.upstream;
  }

  /** True once a terminal event was produced: nothing more is. */
  get ended(): boolean {
    return this.progress === 'ended';
  }

  /** True once this response was cut at its `max_output_tokens`: the upstream is no longer needed. */
  get cutAtMaxOutputTokens(): boolean {
    return this.cut;
  }

  /** A new attempt on `deployment` begins; `chat` when it sends Chat Completions chunks. */
  begin(deployment: DeploymentConfig, chat: boolean): void {
    this.deployment = deployment;
    this.mayHoldKey = keyInJson(deployment.apiKey);
    this.chat = chat ? new ChatStreamAdapter() : undefined;
    this.upstream = undefined;
  }

  /** One upstream SSE message's data. */
  message(data: string): void {
    if (this.ended || data === '[DONE]') return;
    let event: Record<string, unknown>;
    try {
      event = JSON.parse(data) as Record<string, unknown>;
      if (!event || typeof event !== 'object' || Array.isArray(event)) throw new Error('not an object');
    } catch {
      this.malformedEvents += 1;
      this.logger.warn('skipped a malformed upstream event', { id: this.id, bytes: data.length, skipped: this.malformedEvents });
      return;
    }
    if (this.chat) {
      // The adapter turns an error frame into `error` + `response.failed` itself.
      for (const adapted of this.chat.push(event)) this.upstreamEvent(adapted);
      return;
    }
    // A bare `{"error": {...}}` frame (as Chat Completions servers send) is an error event.
    if (typeof event.type !== 'string') {
      if (event.error && typeof event.error === 'object') event = { type: 'error', error: event.error };
      else {
        this.malformedEvents += 1;
        this.logger.warn('skipped an upstream event without a type', { id: this.id, skipped: this.malformedEvents });
        return;
      }
    }
    // Scrubbing walks the whole event; the message's text tells when there is nothing to find.
    this.upstreamEvent(event as ResponseStreamEvent, this.mayHoldKey(data));
  }

  /** The attempt's stream ended: a chat adapter produces its terminal event now (usage comes last). */
  end(): void {
    if (!this.chat || this.ended) return;
    for (const event of this.chat.end()) this.upstreamEvent(event);
  }

  /** Ends the response as `failed` with `error` (already conformant) in a synthesized `response.failed` event. */
  fail(error: ResponseErrorObject): void {
    this.start(undefined);
    const merged = applyEvent(this.current, {
      type: 'response.failed',
      sequence_number: this.nextSeq,
      response: { status: 'failed', error: { code: error.code, message: error.message } },
    });
    this.progress = 'ended';
    this.log({ type: 'response.failed', sequence_number: this.nextSeq, response: merged }, merged.status);
  }

  /** Ends the response as `incomplete` at its `max_output_tokens`, with what it has so far. */
  private incomplete(): void {
    const merged = applyEvent(this.current, {
      type: 'response.incomplete',
      sequence_number: this.nextSeq,
      response: { status: 'incomplete', incomplete_details: { reason: MAX_OUTPUT_TOKENS_REASON } },
    });
    this.progress = 'ended';
    this.cut = true;
    this.log({ type: 'response.incomplete', sequence_number: this.nextSeq, response: merged }, merged.status);
  }

  /** `keyed`: false when the event surely holds no deployment key (see keyInJson). */
  private upstreamEvent(upstream: ResponseStreamEvent, keyed = true): void {
    if (upstream.type === 'keepalive' || this.ended) return;
    // An upstream that echoes the deployment's key (in text, in Response fields) must not leak it.
    let event = keyed ? scrubKey(upstream, this.deployment?.apiKey) : upstream;
    if (isStartEventType(event.type)) {
      // The record already has its own `response.created`; the upstream's start events only
      // contribute their fields, once, to our `response.in_progress`.
      const upstream = event.response as Record<string, unknown> | undefined;
      if (!this.chat && this.upstream === undefined && typeof upstream?.id === 'string' && upstream.id !== '') this.upstream = upstream.id;
      this.start(upstream);
      return;
    }
    this.start(undefined);
    // OpenAI's `function_call_arguments.done` always names the function; older streams leave it out.
    if (event.type === 'response.function_call_arguments.done' && (typeof event.name !== 'string' || event.name === '')) {
      const name = functionNameOf(this.current, event);
      if (name !== undefined) event = { ...event, name };
    }
    if (isFinalEventType(event.type)) {
      const merged = normalizeUsage(applyEvent(this.current, { ...conformFinalError(event, this.deployment), sequence_number: this.nextSeq }));
      this.progress = 'ended';
      this.log({ type: event.type, sequence_number: this.nextSeq, response: merged }, merged.status);
      return;
    }
    if (this.maxOutputTokens !== undefined && OUTPUT_DELTA_TYPES.has(event.type) && typeof event.delta === 'string' && event.delta !== '') {
      if (this.outputDeltas >= this.maxOutputTokens) {
        this.incomplete();
        return;
      }
      this.outputDeltas += 1;
    }
    if (event.type === 'error') {
      this.log({ ...sanitizeErrorEvent(event, this.deployment), sequence_number: this.nextSeq });
      return;
    }
    this.log(this.numbered(event));
  }

  /**
   * `event` with the next sequence number: numbered in place when it was parsed here (it belongs
   * to this worker alone), by copy when the chat adapter made it (it keeps the objects it hands out).
   * Either way the key keeps its place, or comes last when the upstream sent none.
   */
  private numbered(event: ResponseStreamEvent): ResponseStreamEvent {
    if (this.chat) return { ...event, sequence_number: this.nextSeq };
    event.sequence_number = this.nextSeq;
    return event;
  }

  private start(upstream: Record<string, unknown> | undefined): void {
    if (this.progress !== 'queued') return;
    this.progress = 'in_progress';
    const merged = applyEvent(this.current, {
      type: 'response.in_progress',
      sequence_number: this.nextSeq,
      // Only an object's fields are taken: a malformed `response` (a string, an array) adds nothing.
      response: { ...(upstream && typeof upstream === 'object' && !Array.isArray(upstream) ? upstream : {}), status: 'in_progress' },
    });
    this.log({ type: 'response.in_progress', sequence_number: this.nextSeq, response: merged }, 'in_progress');
  }

  /** Folds an event (already numbered) into the state, then hands it to the sink. */
  private log(event: ResponseStreamEvent, status?: ResponseStatus): void {
    const before = this.current;
    // Parsed upstream events belong to this worker alone, so deltas may be folded in place; the
    // chat adapter keeps the objects it hands out, so its events are folded by copy.
    this.current = this.chat ? applyEvent(this.current, event) : foldEvent(this.current, event);
    this.nextSeq = event.sequence_number + 1;
    this.sink(event, status, before);
  }
}

const UPSTREAM_ERROR_MESSAGE = 'The upstream provider reported an error';

/**
 * An upstream `error` event (details flat as in the schema, or nested under `error` as real streams
 * send them) in both shapes, as the stream's own closing `error` events: the schema's `code`,
 * `message` and `param`, and the nested object every SDK version reads. Only an error's fields
 * are kept, each scrubbed of anything credential-like; its code and message are those the failed
 * Response gets ({@link conformUpstreamError}), so the event and the Response say the same.
 */
function sanitizeErrorEvent(event: ResponseStreamEvent, deployment: DeploymentConfig | undefined): ResponseStreamEvent {
  const nested = isRecord(event.error);
  const scrubbed = scrubErrorFields(nested ? (event.error as Record<string, unknown>) : event, deployment, UPSTREAM_ERROR_MESSAGE);
  const { code, message } = conformUpstreamError(scrubbed.code, scrubbed.message);
  const param = scrubbed.param ?? null;
  // A flat event's `type` is the event's own (`error`), not an error type.
  const type = (nested && scrubbed.type) || 'server_error';
  return { type: event.type, sequence_number: event.sequence_number, code, message, param, error: { type, code, message, param } };
}

/**
 * A final upstream event whose Response `error` (when it has one) is scrubbed of credential-like
 * text and conformant ({@link conformUpstreamError}) before it is folded.
 */
function conformFinalError(event: ResponseStreamEvent, deployment: DeploymentConfig | undefined): ResponseStreamEvent {
  const response = event.response;
  if (!isRecord(response) || !isRecord(response.error)) return event;
  const { code, message } = response.error;
  const text = typeof message === 'string' && message !== '' ? redactSecrets(message, deployment) : UPSTREAM_ERROR_MESSAGE;
  const error = conformUpstreamError(typeof code === 'string' ? redactSecrets(code, deployment) : code, text);
  return { ...event, response: { ...response, error } };
}

/**
 * Fills the usage detail fields the current API requires and older upstreams omit
 * (`cache_write_tokens`, `cached_tokens`, `reasoning_tokens`) with 0.
 */
function normalizeUsage(response: ResponseObject): ResponseObject {
  const usage = response.usage as Record<string, unknown> | null | undefined;
  if (!usage || typeof usage !== 'object') return response;
  const input = (usage.input_tokens_details ?? {}) as Record<string, unknown>;
  const output = (usage.output_tokens_details ?? {}) as Record<string, unknown>;
  return {
    ...response,
    usage: {
      ...usage,
      input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0, ...input },
      output_tokens_details: { reasoning_tokens: 0, ...output },
    },
  };
}

/** The name of the function call an arguments event belongs to (by item id, else output index). */
function functionNameOf(response: ResponseObject, event: ResponseStreamEvent): string | undefined {
  const byId = typeof event.item_id === 'string' ? response.output.find((item) => item.id === event.item_id) : undefined;
  const item = byId ?? (isIndex(event.output_index) ? response.output[event.output_index] : undefined);
  return item && typeof item.name === 'string' && item.name !== '' ? item.name : undefined;
}
