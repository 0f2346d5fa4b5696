// `POST /v1/responses`: picks the path (polling via the store, or pass-through to the deployment),
// creates background records and starts their workers.

import { Router, type Request, type RequestHandler, type Response } from 'express';
import type { DeploymentConfig, ResponsesPollingOptions } from '../config/options';
import { encodeEvent } from '../store/event-codec';
import { ownerHash, runtimeFor, type Runtime } from '../runtime';
import type { AdmissionInput } from '../limiter/types';
import { asyncHandler, callStore, errorResponder, jsonBody, principalOf } from './http';
import { initialResponse, type CreateResponseBody } from './create-request';
import { prepareCreate } from './create-context';
import { streamEvents } from './event-stream';
import { newResponseId } from './ids';
import { isNativeBackgroundRequest } from '../config/routing';
import { createNative } from './native-background';
import { chatPassThrough } from './chat-pass-through';
import { countPassThrough, passThrough } from './pass-through';
import { refuseWhileClosing, rollback } from './pre-call-limiter';

/** The paths this package answers, below wherever the router is mounted. */
export const RESPONSES_PATHS = ['/v1/responses', '/responses'];

/**
 * Handles `POST /v1/responses` and `POST /responses`: background requests that polling covers get
 * a stored record and a worker; every other request is passed through to the deployment. An
 * admission the limiter made for the request is handed to the worker (which releases it at the
 * terminal state), or rolled back when the record cannot be created.
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
      const ctx = prepareCreate(runtime, req);
      if (ctx.polling) {
        await createBackground(runtime, req, res, ctx.body, ctx.deployments, ctx.admission);
      } else if (isNativeBackgroundRequest(runtime.config, ctx.body)) {
        await createNative(runtime, req, res, ctx.body, ctx.deployment, ctx.admission);
      } else if (ctx.deployment.upstreamApi === 'chat_completions') {
        countPassThrough(runtime, res);
        await chatPassThrough(runtime, req, res, ctx.body, ctx.deployments);
      } else {
        await passThrough(runtime, req, res, ctx.body, ctx.deployment);
      }
    }),
  );
}

async function createBackground(
  runtime: Runtime,
  req: Request,
  res: Response,
  body: CreateResponseBody,
  deployments: DeploymentConfig[],
  admission: AdmissionInput | undefined,
): Promise<void> {
  const { config } = runtime;
  await refuseWhileClosing(runtime, admission);
  const stream = body.stream === true;
  void runtime.ensureSubscribed();
  const id = newResponseId(config.idPrefix);
  const response = initialResponse(id, body, Math.floor(Date.now() / 1000));
  const snapshot = JSON.stringify(response);
  // The log opens as a background stream does: created (queued), then queued.
  const events = [
    encodeEvent({ type: 'response.created', sequence_number: 0, response }),
    encodeEvent({ type: 'response.queued', sequence_number: 1, response }),
  ];
  const owner = ownerHash(principalOf(req));
  // close() waits for this step: a record written while it runs still gets its worker.
  await runtime.track(
    (async () => {
      const created = callStore(config, () =>
        config.store.create({
          id,
          owner,
          snapshot,
          events,
          stream,
          leaseMs: config.worker.leaseMs,
          ttlSeconds: config.backgroundMode.ttl,
        }),
      );
      // No record, no response: the admission is given back.
      const { fence } = await created.catch(async (err: unknown) => {
        if (admission) await rollback(runtime, admission);
        throw err;
      });
      // The worker is detached from this request: nothing of `req`/`res` reaches it, so a client
      // that disconnects right after receiving the id does not affect it.
      runtime.startWorker({
        id,
        fence,
        state: response,
        nextSeq: events.length,
        snapshotBytes: snapshot.length,
        deployments,
        request: body,
        admission,
      }, { owner });
    })(),
  );
  config.logger.info('background response created', { id, model: body.model });

  if (stream) {
    await streamEvents(runtime, req, res, id, owner, { opening: events });
  } else {
    res.status(200).json(response);
  }
}
