// OpenTelemetry spans of a background response, recorded by the SDK's in-memory exporter registered
// as the global tracer provider: create, admission inside it, each upstream attempt, flush batches
// and the terminal transition, with ids and model names as attributes and errors recorded.

import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { ev } from '../helpers/fake-upstream';
import { textTurnEvents } from '../helpers/event-fixtures';
import { steps } from '../helpers/flow';
import { useApp, waitFor, waitForStatus, type AppFixture } from '../helpers/app';
import { SPAN_ATTRIBUTES, SPAN_NAMES } from '../../lib/observability/tracing';

const UPSTREAM_KEY = 'sk-upstream-secret-tracing-0123456789';
const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });

beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(provider);
});

afterAll(async () => {
  await provider.shutdown();
  trace.disable();
  context.disable();
});

beforeEach(() => exporter.reset());

const spans = (name: string): ReadableSpan[] => exporter.getFinishedSpans().filter((s) => s.name === name);
const parentOf = (span: ReadableSpan): string | undefined => span.parentSpanContext?.spanId;

describe.each(['memory', 'redis'] as const)('tracing (%s store)', (kind) => {
  let f: AppFixture;
  useApp(
    kind,
    (upstream, store) => ({
      store,
      models: [
        { modelName: 'gpt-traced', model: 'openai/gpt-4o-mini', apiBase: upstream.url, apiKey: UPSTREAM_KEY, rpm: 1000 },
        { modelName: 'gpt-hooked', model: 'openai/gpt-4o', apiBase: upstream.url, apiKey: UPSTREAM_KEY },
      ],
      worker: { flushIntervalMs: 10, upstreamRetryBaseMs: 10, upstreamMaxAttempts: 3 },
      preCallHooks: [
        (ctx) => {
          if (ctx.model === 'gpt-hooked') throw Object.assign(new Error('Refused by the host.'), { status: 403, code: 'host_refused' });
        },
      ],
    }),
    (fixture) => (f = fixture),
  );

  it('spans a background response from create to its terminal transition', async () => {
    let calls = 0;
    f.upstream.respond(() =>
      ++calls === 1
        ? { kind: 'json', status: 503, body: { error: { message: 'overloaded' } } }
        : { kind: 'sse', steps: steps(textTurnEvents('Traced words.')) },
    );
    const client = f.app.client();
    const created = await client.responses.create({ model: 'gpt-traced', input: 'hi', background: true });
    await waitForStatus(client, created.id, 'completed');
    const terminal = await waitFor(() => spans(SPAN_NAMES.terminal).find((s) => s.attributes[SPAN_ATTRIBUTES.responseId] === created.id), 10000, 'terminal span');

    const [create] = spans(SPAN_NAMES.create);
    expect(spans(SPAN_NAMES.create)).toHaveLength(1);
    expect(create.attributes[SPAN_ATTRIBUTES.responseId]).toBe(created.id);
    expect(create.attributes[SPAN_ATTRIBUTES.model]).toBe('gpt-traced');
    expect(create.attributes[SPAN_ATTRIBUTES.deployment]).toBe('gpt-traced');
    expect(create.attributes[SPAN_ATTRIBUTES.httpStatus]).toBe(200);
    const requestId = create.attributes[SPAN_ATTRIBUTES.requestId];
    expect(requestId).toMatch(/^req_/);

    // Admission inside create.
    const [admission] = spans(SPAN_NAMES.admission);
    expect(spans(SPAN_NAMES.admission)).toHaveLength(1);
    expect(parentOf(admission)).toBe(create.spanContext().spanId);
    expect(admission.spanContext().traceId).toBe(create.spanContext().traceId);
    expect(admission.attributes[SPAN_ATTRIBUTES.requestId]).toBe(requestId);

    // One span per upstream attempt, the failed one with its error recorded; all in the create's trace.
    const attempts = spans(SPAN_NAMES.upstreamAttempt).sort((a, b) => Number(a.attributes[SPAN_ATTRIBUTES.attempt]) - Number(b.attributes[SPAN_ATTRIBUTES.attempt]));
    expect(attempts.map((a) => a.attributes[SPAN_ATTRIBUTES.attempt])).toEqual([1, 2]);
    expect(attempts[0].status.code).toBe(2);
    expect(attempts[0].events.map((e) => e.name)).toContain('exception');
    expect(attempts[0].attributes[SPAN_ATTRIBUTES.errorCode]).toBe('upstream_error');
    expect(attempts[1].status.code).not.toBe(2);
    for (const a of attempts) {
      expect(a.spanContext().traceId).toBe(create.spanContext().traceId);
      expect(parentOf(a)).toBe(create.spanContext().spanId);
      expect(a.attributes[SPAN_ATTRIBUTES.responseId]).toBe(created.id);
      expect(a.attributes[SPAN_ATTRIBUTES.requestId]).toBe(requestId);
      expect(a.attributes[SPAN_ATTRIBUTES.deploymentModel]).toBe('openai/gpt-4o-mini');
    }

    // Flush batches: a few spans, never one per event; their events add up to the log after creation.
    const flushes = spans(SPAN_NAMES.flush).filter((s) => s.attributes[SPAN_ATTRIBUTES.responseId] === created.id);
    expect(flushes.length).toBeGreaterThan(0);
    const flushed = flushes.reduce((sum, s) => sum + Number(s.attributes[SPAN_ATTRIBUTES.events]), 0);
    expect(flushes.length).toBeLessThan(flushed);
    for (const s of flushes) {
      expect(parentOf(s)).toBe(create.spanContext().spanId);
      expect(s.attributes[SPAN_ATTRIBUTES.outcome]).toBe('ok');
    }

    // The terminal transition, once.
    expect(spans(SPAN_NAMES.terminal)).toHaveLength(1);
    expect(terminal.attributes[SPAN_ATTRIBUTES.status]).toBe('completed');
    expect(terminal.attributes[SPAN_ATTRIBUTES.path]).toBe('polling');
    expect(terminal.attributes[SPAN_ATTRIBUTES.requestId]).toBe(requestId);
    expect(parentOf(terminal)).toBe(create.spanContext().spanId);

    // Never a key.
    expect(JSON.stringify(exporter.getFinishedSpans().map((s) => [s.attributes, s.events]))).not.toContain(UPSTREAM_KEY);
  });

  it('records a failed response on its terminal span', async () => {
    f.upstream.respond(() => ({ kind: 'sse', steps: [ev({ type: 'response.created', response: { id: 'up_1', status: 'in_progress' } })] }));
    const client = f.app.client();
    const created = await client.responses.create({ model: 'gpt-traced', input: 'hi', background: true });
    await waitForStatus(client, created.id, 'failed');
    const terminal = await waitFor(() => spans(SPAN_NAMES.terminal)[0], 10000, 'terminal span');
    expect(terminal.attributes[SPAN_ATTRIBUTES.status]).toBe('failed');
    expect(terminal.status.code).toBe(2);
    // The detail, which says more than the OpenAI code it maps onto.
    expect(terminal.attributes[SPAN_ATTRIBUTES.errorCode]).toBe('upstream_stream_incomplete');
  });

  it('spans a cancel where it was made, and does not count the aborted attempt as failed', async () => {
    f.upstream.respond(() => ({ kind: 'sse', steps: [ev({ type: 'response.created', response: { id: 'up_2', status: 'in_progress' } }), { hang: true }] }));
    const client = f.app.client();
    const created = await client.responses.create({ model: 'gpt-traced', input: 'hi', background: true });
    await waitForStatus(client, created.id, 'in_progress');
    await client.responses.cancel(created.id);
    const attempt = await waitFor(() => spans(SPAN_NAMES.upstreamAttempt)[0], 10000, 'attempt span');
    expect(attempt.status.code).not.toBe(2);
    const terminal = await waitFor(() => spans(SPAN_NAMES.terminal)[0], 10000, 'terminal span');
    expect(spans(SPAN_NAMES.terminal)).toHaveLength(1);
    expect(terminal.attributes[SPAN_ATTRIBUTES.status]).toBe('cancelled');
    expect(terminal.attributes[SPAN_ATTRIBUTES.responseId]).toBe(created.id);
    // Made by the cancel request: its own request id, not the create's.
    const [create] = spans(SPAN_NAMES.create);
    expect(terminal.attributes[SPAN_ATTRIBUTES.requestId]).toMatch(/^req_/);
    expect(terminal.attributes[SPAN_ATTRIBUTES.requestId]).not.toBe(create.attributes[SPAN_ATTRIBUTES.requestId]);
  });

  it('records a refusal by a pre-call hook on the admission span, inside the create span', async () => {
    const client = f.app.client();
    await expect(client.responses.create({ model: 'gpt-hooked', input: 'hi', background: true })).rejects.toMatchObject({ status: 403 });
    const create = await waitFor(() => spans(SPAN_NAMES.create)[0], 5000, 'create span');
    const [admission] = spans(SPAN_NAMES.admission);
    expect(parentOf(admission)).toBe(create.spanContext().spanId);
    expect(admission.status.code).toBe(2);
    expect(admission.attributes[SPAN_ATTRIBUTES.errorCode]).toBe('host_refused');
    expect(admission.events[0].attributes?.['exception.message']).toBe('Refused by the host.');
    expect(create.attributes[SPAN_ATTRIBUTES.httpStatus]).toBe(403);
    expect(spans(SPAN_NAMES.upstreamAttempt)).toHaveLength(0);
  });
});
