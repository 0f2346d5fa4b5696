// The life of a background response through real HTTP, a real store and the official client:
// create, poll partial output, complete, cancel, delete, and the failure paths of the worker.

import http from 'node:http';
import OpenAI from 'openai';
import type { FakeUpstream } from '../helpers/fake-upstream';
import { failedTurnEvents, functionCallEvents, textTurnEvents } from '../helpers/event-fixtures';
import { STORE_KINDS, useApp, waitFor, waitForStatus, type TestApp } from '../helpers/app';
import { gate, steps, textOf, failedWith } from '../helpers/flow';

const UPSTREAM_KEY = 'sk-upstream-secret-0123456789abcdef';
const TEXT = 'Background mode keeps long answers alive when the client goes away.';

describe.each(STORE_KINDS)('background responses on the %s store', (kind) => {
  let upstream: FakeUpstream;
  let app: TestApp;
  let client: OpenAI;

  useApp(
    kind,
    (u, store) => ({
      store,
      models: [{ modelName: 'gpt-test', model: 'openai/gpt-4o-mini', apiBase: u.url, apiKey: UPSTREAM_KEY }],
      worker: { flushIntervalMs: 20, upstreamIdleTimeoutMs: 1500 },
    }),
    (f) => {
      ({ upstream, app } = f);
      client = app.client();
    },
  );

  test('a create answers at once with a queued Response carrying the request fields', async () => {
    const hold = gate();
    upstream.respond(() => ({ kind: 'sse', steps: [{ until: hold.promise }, ...steps(textTurnEvents(TEXT))] }));
    const created = await client.responses.create({
      model: 'gpt-test',
      input: 'hi',
      background: true,
      metadata: { ticket: '42' },
      temperature: 0.5,
    });
    expect(created).toMatchObject({
      object: 'response',
      status: 'queued',
      background: true,
      model: 'gpt-test',
      metadata: { ticket: '42' },
      temperature: 0.5,
      output: [],
      usage: null,
      error: null,
    });
    expect(created.id).toMatch(/^resp_[0-9a-f]{48}$/);
    expect(typeof created.created_at).toBe('number');
    hold.open();
  });

  test('polling shows the partial output while in progress, then the exact final output and usage', async () => {
    const events = textTurnEvents(TEXT, { chunkSize: 5 });
    const firstDeltas = events.findIndex((e) => e.type === 'response.output_text.delta') + 3;
    const hold = gate();
    upstream.respond(() => ({
      kind: 'sse',
      steps: [...steps(events.slice(0, firstDeltas)), { until: hold.promise }, ...steps(events.slice(firstDeltas))],
    }));
    const created = await client.responses.create({ model: 'gpt-test', input: 'hi', background: true });

    const partial = await waitFor(async () => {
      const r = await client.responses.retrieve(created.id);
      return r.status === 'in_progress' && r.output_text.length === 15 ? r : undefined;
    }, 10000, 'partial output');
    expect(partial.output_text).toBe(TEXT.slice(0, 15));

    hold.open();
    const done = await waitForStatus(client, created.id, 'completed');
    expect(done.output_text).toBe(TEXT);
    expect(done.id).toBe(created.id);
    // The upstream's June-2025-style usage lacks `cache_write_tokens`; the stored one has it.
    expect(done.usage).toEqual({
      input_tokens: 10,
      input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
      output_tokens: 16,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 26,
    });
    expect(done.completed_at).toEqual(expect.any(Number));
    expect(done.model).toBe('gpt-test');
  });

  test('the upstream gets the deployment model, stream true, no background flag, and the deployment key', async () => {
    upstream.respond(() => ({ kind: 'sse', steps: steps(textTurnEvents(TEXT)) }));
    await client.responses.create({ model: 'gpt-test', input: 'hi', background: true });
    const req = await upstream.waitForRequest(0);
    expect(req.url).toBe('/v1/responses');
    expect(req.body).toMatchObject({ model: 'gpt-4o-mini', stream: true, input: 'hi' });
    expect(req.body).not.toHaveProperty('background');
    expect(req.headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
  });

  test('a client that disconnects right after receiving the id does not stop the work', async () => {
    upstream.respond(() => ({ kind: 'sse', steps: steps(textTurnEvents(TEXT), 10) }));
    const id = await new Promise<string>((resolve, reject) => {
      const req = http.request(`${app.baseURL}/responses`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => {
          req.destroy();
          res.socket?.destroy();
          resolve(JSON.parse(body).id);
        });
      });
      req.on('error', reject);
      req.end(JSON.stringify({ model: 'gpt-test', input: 'hi', background: true }));
    });
    const done = await waitForStatus(client, id, 'completed');
    expect(done.output_text).toBe(TEXT);
  });

  test('cancel aborts the upstream request, keeps the partial output, and repeats identically', async () => {
    const events = textTurnEvents(TEXT, { chunkSize: 5 });
    const cut = events.findIndex((e) => e.type === 'response.output_text.delta') + 2;
    upstream.respond(() => ({ kind: 'sse', steps: [...steps(events.slice(0, cut)), { hang: true }] }));
    const created = await client.responses.create({ model: 'gpt-test', input: 'hi', background: true });
    await waitFor(async () => (await client.responses.retrieve(created.id)).output_text.length === 10);

    const upstreamRequest = await upstream.waitForRequest(0);
    const cancelled = await client.responses.cancel(created.id);
    expect(cancelled.status).toBe('cancelled');
    expect(textOf(cancelled)).toBe(TEXT.slice(0, 10));
    await expect(
      Promise.race([upstreamRequest.clientClosed.then(() => 'closed'), new Promise((r) => setTimeout(() => r('still open'), 1000))]),
    ).resolves.toBe('closed');

    const again = await client.responses.cancel(created.id);
    expect(again).toEqual(cancelled);
    const polled = await client.responses.retrieve(created.id);
    expect(polled.status).toBe('cancelled');
  });

  test('cancelling a completed response is a 400 and leaves it completed', async () => {
    upstream.respond(() => ({ kind: 'sse', steps: steps(textTurnEvents(TEXT)) }));
    const created = await client.responses.create({ model: 'gpt-test', input: 'hi', background: true });
    await waitFor(async () => (await client.responses.retrieve(created.id)).status === 'completed');
    const err = await client.responses.cancel(created.id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).error).toMatchObject({
      type: 'invalid_request_error',
      message: 'Cannot cancel a completed response.',
    });
    expect((await client.responses.retrieve(created.id)).status).toBe('completed');
  });

  test('a completion racing a cancel never turns a cancelled response back into completed', async () => {
    const rounds = 25;
    upstream.respond(() => ({ kind: 'sse', steps: steps(textTurnEvents('race', { chunkSize: 1 }), 1) }));
    for (let i = 0; i < rounds; i += 1) {
      const created = await client.responses.create({ model: 'gpt-test', input: 'hi', background: true });
      await new Promise((r) => setTimeout(r, i % 7));
      const outcome = await client.responses.cancel(created.id).then(
        (r) => r.status,
        (e: unknown) => (e instanceof OpenAI.BadRequestError ? 'refused' : Promise.reject(e)),
      );
      await waitFor(() => !app.router.runtime.workers.has(created.id), 5000, 'worker end');
      const final = await client.responses.retrieve(created.id);
      if (outcome === 'cancelled') expect(final.status).toBe('cancelled');
      else expect(final.status).toBe('completed');
    }
  });

  test('delete stops the worker, answers deleted, and the id is then unknown', async () => {
    upstream.respond(() => ({ kind: 'sse', steps: [...steps(textTurnEvents(TEXT).slice(0, 5)), { hang: true }] }));
    const created = await client.responses.create({ model: 'gpt-test', input: 'hi', background: true });
    const upstreamRequest = await upstream.waitForRequest(0);
    const res = await fetch(`${app.baseURL}/responses/${created.id}`, { method: 'DELETE' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ id: created.id, object: 'response', deleted: true });
    await upstreamRequest.clientClosed;
    await expect(client.responses.retrieve(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(client.responses.delete(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  test('an unknown id is a 404 in OpenAI error shape on every route', async () => {
    const id = 'resp_doesnotexist';
    for (const [method, path] of [['GET', ''], ['DELETE', ''], ['POST', '/cancel']] as const) {
      const res = await fetch(`${app.baseURL}/responses/${id}${path}`, { method });
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({
        error: { message: `Response with id '${id}' not found.`, type: 'invalid_request_error', param: 'response_id', code: 'not_found' },
      });
    }
  });

  test('a malformed upstream event line is skipped and the rest of the response is kept', async () => {
    const events = textTurnEvents(TEXT, { chunkSize: 5 });
    const at = events.findIndex((e) => e.type === 'response.output_text.delta') + 1;
    upstream.respond(() => ({
      kind: 'sse',
      steps: [...steps(events.slice(0, at)), { raw: 'event: response.output_text.delta\ndata: {"type": "response.output_te\n\n' }, ...steps(events.slice(at))],
    }));
    const created = await client.responses.create({ model: 'gpt-test', input: 'hi', background: true });
    const done = await waitForStatus(client, created.id, 'completed');
    expect(done.output_text).toBe(TEXT);
  });

  test('a stream that ends without a terminal event fails, keeping its partial output', async () => {
    const events = textTurnEvents(TEXT, { chunkSize: 5 });
    const cut = events.findIndex((e) => e.type === 'response.output_text.delta') + 2;
    upstream.respond(() => ({ kind: 'sse', steps: steps(events.slice(0, cut)) }));
    const created = await client.responses.create({ model: 'gpt-test', input: 'hi', background: true });
    const failed = await waitForStatus(client, created.id, 'failed');
    expect(failed.error).toEqual({ code: 'server_error', message: 'upstream_stream_incomplete: The upstream stream ended before the response was complete' });
    expect(failed.output_text).toBe(TEXT.slice(0, 10));
  });

  test('an upstream HTTP 500 fails the response with a useful message and no secret', async () => {
    upstream.respond(() => ({
      kind: 'json',
      status: 500,
      body: { error: { message: `internal failure for key ${UPSTREAM_KEY}`, type: 'server_error', code: 'server_error' } },
    }));
    const created = await client.responses.create({ model: 'gpt-test', input: 'hi', background: true });
    const failed = await waitForStatus(client, created.id, 'failed');
    expect(failed.error).toEqual(failedWith('upstream_error'));
    expect(failed.error?.message).toContain('HTTP 500');
    expect(JSON.stringify(failed)).not.toContain(UPSTREAM_KEY);
  });

  test('an upstream that cannot be reached fails the response with a connection error', async () => {
    upstream.respond(() => ({ kind: 'destroy' }));
    const created = await client.responses.create({ model: 'gpt-test', input: 'hi', background: true });
    const failed = await waitForStatus(client, created.id, 'failed');
    expect(failed.error).toEqual(failedWith('upstream_connection_error'));
  });

  test('an upstream that goes quiet fails the response after the idle timeout', async () => {
    upstream.respond(() => ({ kind: 'sse', steps: [...steps(textTurnEvents(TEXT).slice(0, 4)), { hang: true }] }));
    const created = await client.responses.create({ model: 'gpt-test', input: 'hi', background: true });
    const failed = await waitForStatus(client, created.id, 'failed');
    expect(failed.error).toEqual(failedWith('upstream_timeout'));
  });

  test('an upstream error event followed by response.failed keeps the upstream status and code', async () => {
    upstream.respond(() => ({ kind: 'sse', steps: steps(failedTurnEvents('rate_limit_exceeded', 'Rate limit reached for requests')) }));
    const created = await client.responses.create({ model: 'gpt-test', input: 'hi', background: true });
    const failed = await waitForStatus(client, created.id, 'failed');
    expect(failed.error).toEqual({ code: 'rate_limit_exceeded', message: 'Rate limit reached for requests' });
  });

  test('an incomplete upstream response stays incomplete with its details', async () => {
    upstream.respond(() => ({ kind: 'sse', steps: steps(textTurnEvents(TEXT, { finish: 'incomplete' })) }));
    const created = await client.responses.create({ model: 'gpt-test', input: 'hi', background: true });
    const done = await waitForStatus(client, created.id, 'incomplete');
    expect(done.incomplete_details).toEqual({ reason: 'max_output_tokens' });
    expect(done.output_text).toBe(TEXT);
  });

  test('function-call arguments are assembled from their deltas', async () => {
    const args = JSON.stringify({ city: 'Paris', unit: 'celsius', days: 3 });
    upstream.respond(() => ({ kind: 'sse', steps: steps(functionCallEvents([{ name: 'get_weather', arguments: args }, { name: 'get_time', arguments: '{"tz":"CET"}' }])) }));
    const created = await client.responses.create({ model: 'gpt-test', input: 'weather?', background: true });
    const done = await waitForStatus(client, created.id, 'completed');
    expect(done.output).toEqual([
      expect.objectContaining({ type: 'function_call', name: 'get_weather', arguments: args, status: 'completed' }),
      expect.objectContaining({ type: 'function_call', name: 'get_time', arguments: '{"tz":"CET"}' }),
    ]);
  });
});
