// Requests without `background` for Chat-Completions-only deployments. The streaming worker runs
// for the length of the request against a private in-memory store, so the same request mapping,
// chunk adapter, failover and reducer serve them; nothing reaches the shared store. The client
// gets the events as SSE while they are flushed (`stream: true`) or the final Response.

import type { Response } from 'express';
import { ApiError } from '../errors';
import { silentLogger } from '../logger';
import type { Runtime } from '../runtime';
import { sseFrame } from '../sse';
import { encodeEvent, eventJson, ItemIdTable } from '../store/event-codec';
import { MemoryStore } from '../store/memory-store';
import { ERROR_DETAILS, isTerminalStatus, responseError } from '../response-vocabulary';
import type { ResponseObject } from '../types';
import { materialize } from '../worker/materialize';
import { StreamingWorker } from '../worker/streaming-worker';
import { initialResponse } from './create-request';
import { startPassThrough } from './pass-through';
import type { CreateCall } from './request-context';
import { newResponseId } from './ids';
import { ownerHash } from '../principal';
import { rememberPassThrough } from '../conversation/turns';

/** Serves the call's body from its deployments (in failover order) without storing anything. */
export async function chatPassThrough(runtime: Runtime, res: Response, call: CreateCall): Promise<void> {
  const { config } = runtime;
  const { body, deployments } = call;
  startPassThrough(runtime, res, call.admission);
  const store = new MemoryStore({ logger: silentLogger });
  const id = newResponseId(config.idPrefix);
  const response: ResponseObject = { ...initialResponse(id, body, Math.floor(Date.now() / 1000)), status: 'in_progress', background: false };
  const snapshot = JSON.stringify(response);
  const opening = encodeEvent({ type: 'response.created', sequence_number: 0, response });
  const stream = body.stream === true;
  try {
    const { fence } = await store.create({ id, owner: '', snapshot, events: [opening], stream, leaseMs: config.worker.leaseMs, ttlSeconds: 60 });
    // Without a reader of partial events there is nothing to gain from flushing early.
    const worker = new StreamingWorker(
      {
        store,
        logger: config.logger,
        tuning: { ...config.worker, flushIntervalMs: stream ? config.worker.flushIntervalMs : 1000 },
        ttlSeconds: config.backgroundMode.ttl,
      },
      { id, owner: '', fence, state: response, log: [opening], nextSeq: 1, snapshotBytes: snapshot.length, deployments, request: body, continuation: call.continuation },
    );
    const onClose = () => {
      if (!res.writableFinished) worker.stop('cancelled');
    };
    res.on('close', onClose);
    worker.run();
    // Its turn is kept (input and output items), so a later request can continue it by id.
    void worker.done.then(() => {
      if (worker.finished) return rememberPassThrough(config, ownerHash(call.principal), body, worker.deployment, worker.state);
    });
    try {
      if (stream) await relay(res, store, id, worker);
      else await answer(res, store, id, worker);
    } finally {
      res.off('close', onClose);
    }
  } finally {
    await store.close();
  }
}

/** Writes the events as SSE as soon as each flush has stored them, until the worker is done. */
async function relay(res: Response, store: MemoryStore, id: string, worker: StreamingWorker): Promise<void> {
  res.status(200);
  res.setHeader('content-type', 'text/event-stream; charset=utf-8');
  res.setHeader('cache-control', 'no-cache');
  res.flushHeaders();
  let cursor = -1;
  const table = new ItemIdTable();
  let pumping: Promise<void> = Promise.resolve();
  const pump = () => {
    pumping = pumping.then(async () => {
      const batch = await store.readEvents(id, null, cursor);
      // The log is numbered without gaps: each entry is the one after the cursor.
      for (const entry of batch?.events ?? []) {
        const { type, json } = eventJson(entry, table);
        cursor += 1;
        if (!res.writableEnded) res.write(sseFrame(type, json));
      }
    });
    return pumping;
  };
  worker.on('flushed', pump);
  await pump();
  await worker.done;
  worker.off('flushed', pump);
  await pump();
  if (!res.writableEnded) res.end();
}

/** Answers with the final Response, or with the upstream failure as an OpenAI-shaped error. */
async function answer(res: Response, store: MemoryStore, id: string, worker: StreamingWorker): Promise<void> {
  await worker.done;
  if (res.writableEnded || res.destroyed) return;
  const stored = await store.read(id, null);
  const final = stored ? materialize(stored) : worker.state;
  if (final.status === 'failed' || !isTerminalStatus(final.status)) {
    const error = final.error ?? responseError(ERROR_DETAILS.upstreamHttp, 'The upstream provider did not complete the response');
    throw new ApiError(502, error.message, { type: 'server_error', code: error.code });
  }
  res.status(200).json(final);
}
