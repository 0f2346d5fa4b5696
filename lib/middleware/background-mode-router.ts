// `POST /v1/responses`: picks the path (polling via the store, or pass-through to the deployment),
// creates background records and starts their workers.

import { Router, type Request, type RequestHandler, type Response } from 'express';
import type { ResponsesPollingOptions } from '../config/options';
import { openingEntries } from '../store/event-codec';
import { ownerHash, runtimeFor, type Runtime } from '../runtime';
import { asyncHandler, callStore, errorResponder, jsonBody, sendJson } from './http';
import { initialResponse } from './create-request';
import { createRequestOf } from './create-context';
import { createCallOf, type CreateCall } from './request-context';
import { acquireFollower, streamEvents } from './event-stream';
import { newResponseId } from './ids';
import { createNative } from './native-create';
import { chatPassThrough } from './chat-pass-through';
import { passThrough } from './pass-through';
import { refuseWhileClosing } from './pre-call-limiter';
import { runningTurnSeconds, turnOfRequest } from '../conversation/turns';
import { enqueueInput } from '../queue/job';
import { queueLifeMs } from '../queue/memory-queue';
import { queueFullRefusal } from '../queue/queue-errors';
import { ERROR_CODES, QueueFullError, StoreConflictError } from '../errors';
import { AbandonedCreates } from './abandoned-creates';
import { currentLogContext } from '../observability/request-id';
import { createSpanOf, deploymentAttributes, SPAN_ATTRIBUTES } from '../observability/tracing';
import { ApiError } from '../errors';

/** The paths this package answers, below wherever the router is mounted. */
export const RESPONSES_PATHS = ['/v1/responses', '/responses'];

/**
 * Handles `POST /v1/responses` and `POST /responses`: background requests that polling covers get
 * a stored record and a worker; native-background requests go to the provider's background mode;
 * every other request is passed through to the deployment. The admission the limiter made for the
 * request is given back on any refusal before it was committed, else settled by the path.
 */
export function backgroundModeRouter(options: ResponsesPollingOptions | Runtime = {}): Router {
  const runtime = runtimeFor(options);
  const router = Router();
  addCreateRoute(router, runtime);
  router.use(RESPONSES_PATHS, errorResponder(runtime.config.logger));
  return router;
}

/**
 * Adds the create route of {@link backgroundModeRouter} to `router`, after `before` (the
 * limiter, in `responsesPolling()`'s flat router), without an error responder.
 */
export function addCreateRoute(router: Router, runtime: Runtime, ...before: RequestHandler[]): void {
  router.post(
    RESPONSES_PATHS,
    ...before,
    jsonBody(runtime.config.maxBodyBytes),
    asyncHandler(async function createResponse(req: Request, res: Response) {
      const span = createSpanOf(req, res, currentLogContext()?.requestId);
      let call: CreateCall | undefined;
      try {
        call = createCallOf(req, await createRequestOf(runtime, req));
        span.set({ [SPAN_ATTRIBUTES.model]: call.body.model, ...deploymentAttributes(call.deployments[0]) });
        if (call.polling) await createBackground(runtime, req, res, call);
        else if (call.native) await createNative(runtime, res, call);
        else if (call.deployments[0].upstreamApi === 'chat_completions') await chatPassThrough(runtime, res, call);
        else await passThrough(runtime, res, call);
      } catch (err) {
        span.fail(err, err instanceof ApiError ? (err.code ?? undefined) : undefined);
        // Any refusal before the admission was committed (to a record, a worker or a provider call) gives it back.
        await call?.admission.refuse();
        throw err;
      }
    }),
  );
}

async function createBackground(runtime: Runtime, req: Request, res: Response, call: CreateCall): Promise<void> {
  const { config } = runtime;
  const { body, admission } = call;
  refuseWhileClosing(runtime);
  const stream = body.stream === true;
  void runtime.ensureSubscribed();
  const id = newResponseId(config.idPrefix);
  const span = createSpanOf(req, res, currentLogContext()?.requestId).set({ [SPAN_ATTRIBUTES.responseId]: id });
  const response = initialResponse(id, body, Math.floor(Date.now() / 1000));
  const snapshot = JSON.stringify(response);
  const events = openingEntries(snapshot);
  const owner = ownerHash(call.principal);
  // The record and its queue entry in one step: a worker (here, or in a worker process) claims it
  // when its deployment has capacity and runs it detached from this request, so a client that
  // disconnects right after receiving the id does not affect it. close() waits for this step.
  const queue = enqueueInput(config, {
    owner,
    request: body,
    deployments: call.deployments,
    admission: admission.job,
    requestId: currentLogContext()?.requestId,
    continuation: call.continuation,
    traceParent: span.traceParent,
  });
  // A stream's follower slot is taken before the record exists, so a refusal (429) leaves nothing.
  const slot = stream ? acquireFollower(runtime, call.principal, id) : undefined;
  await runtime.track(
    (async () => {
      // The turn goes with the record (one round trip): a store that writes both in one step
      // leaves neither when it refuses the create.
      const turn = { record: turnOfRequest(owner, 'polling', body), ttlSeconds: runningTurnSeconds(config) };
      // No record, no response: a failure here reaches the create route, which gives the admission back.
      let answered = false;
      const created = await callStore(config, () =>
        config.store.create({
          id,
          owner,
          snapshot,
          events,
          stream,
          leaseMs: config.worker.leaseMs,
          ttlSeconds: config.backgroundMode.ttl,
          queue,
          turn,
        }).catch((err: unknown) => {
          // The store answered: nothing was written (a conflict leaves the other record alone).
          answered = err instanceof QueueFullError || err instanceof StoreConflictError;
          // A full queue stored nothing: the client is told to come back (429), not that the store is down.
          throw err instanceof QueueFullError ? queueFullRefusal(body.model) : err;
        }),
      ).catch((err: unknown) => {
        // The store did not answer in time: the create may still reach it. The client is told
        // 503 and will retry under a new id, so this one must never run (a turn written with it
        // is never read without its record, and expires).
        if (!answered && outcomeUnknown(err)) {
          runtime.service('abandoned-creates', () => new AbandonedCreates(config.store, config.logger)).abandon(id, abandonedLifeMs(config));
        }
        throw err;
      });
      // A store that does not write the turn with the record (one written before that field).
      if (created.turnSaved !== true) {
        await callStore(config, () => config.store.saveTurn(id, turn.record, turn.ttlSeconds)).catch(async (err: unknown) => {
          // Nobody has the id yet: the record goes too, and the client retries (503).
          await config.store.delete(id, null).catch(() => undefined);
          throw err;
        });
      }
      // From here the admission belongs to the response: the worker that runs it holds and settles it.
      admission.commit();
      // Counted where it was created, whichever process runs it.
      config.metrics.responseCreated('polling');
      await runtime.enqueued(id);
    })(),
  ).catch((err: unknown) => {
    slot?.release();
    throw err;
  });
  config.logger.info('background response created', { id, model: body.model });

  if (slot) {
    await streamEvents(runtime, req, res, id, owner, { opening: events, slot });
  } else {
    sendJson(res, 200, response, snapshot);
  }
}

/** True for the 503 of a store call that missed its deadline: whether it wrote is unknown. */
function outcomeUnknown(err: unknown): boolean {
  return err instanceof ApiError && err.code === ERROR_CODES.storeUnavailable;
}

/** How long the record of an abandoned create could live: its retention, its lease and its longest wait. */
function abandonedLifeMs(config: Runtime['config']): number {
  return config.backgroundMode.ttl * 1000 + config.worker.leaseMs + queueLifeMs(config.worker.maxQueueMs);
}
