// `POST /v1/responses`: picks the path (polling via the store, or pass-through to the deployment),
// creates background records and starts their workers.

import { randomBytes } from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import type { DeploymentConfig, ResponsesPollingOptions } from '../config/options';
import { findDeployments, shouldUsePolling } from '../config/routing';
import { ApiError, invalidRequest } from '../errors';
import { encodeEvent } from '../store/event-codec';
import { ownerHash, runtimeFor, type Runtime } from '../runtime';
import { assertModelAllowed } from './auth';
import { asyncHandler, callStore, errorResponder, jsonBody, principalOf } from './http';
import { checkCreateBody, initialResponse, type CreateResponseBody } from './create-request';
import { streamEvents } from './event-stream';
import { passThrough } from './pass-through';

/** The paths this package answers, below wherever the router is mounted. */
export const RESPONSES_PATHS = ['/v1/responses', '/responses'];

/** A new response id: the configured prefix and 192 random bits. */
export function newResponseId(prefix: string): string {
  return `${prefix}${randomBytes(24).toString('hex')}`;
}

/** The deployment serving `model`, or a 400 naming the model. */
export function resolveDeployment(runtime: Runtime, model: string): DeploymentConfig {
  const candidates = findDeployments(runtime.config.models, model);
  if (!candidates.length) {
    throw new ApiError(400, `The model '${model}' does not exist or is not served here.`, { param: 'model', code: 'model_not_found' });
  }
  // Several deployments of one name share the load (picked at random).
  return candidates[Math.floor(Math.random() * candidates.length)];
}

/**
 * Handles `POST /v1/responses` and `POST /responses`: background requests that polling covers get
 * a stored record and a worker; every other request is passed through to the deployment.
 */
export function backgroundModeRouter(options: ResponsesPollingOptions | Runtime = {}): Router {
  const runtime = runtimeFor(options);
  const router = Router();
  router.post(
    RESPONSES_PATHS,
    jsonBody(runtime.config.maxBodyBytes),
    asyncHandler(async function createResponse(req: Request, res: Response) {
      const body = checkCreateBody(req.body);
      if (body instanceof ApiError) throw body;
      assertModelAllowed(principalOf(req), body.model);
      const deployment = resolveDeployment(runtime, body.model);
      if (shouldUsePolling(runtime.config, body)) {
        await createBackground(runtime, req, res, body, deployment);
      } else {
        await passThrough(runtime, req, res, body, deployment);
      }
    }),
  );
  router.use(RESPONSES_PATHS, errorResponder(runtime.config.logger));
  return router;
}

async function createBackground(
  runtime: Runtime,
  req: Request,
  res: Response,
  body: CreateResponseBody,
  deployment: DeploymentConfig,
): Promise<void> {
  const { config } = runtime;
  if (runtime.isClosing) {
    throw new ApiError(503, 'The server is shutting down and accepts no new responses.', { code: 'server_shutting_down' });
  }
  const stream = body.stream === true;
  if (body.input === undefined && body.previous_response_id === undefined && body.prompt === undefined) {
    throw invalidRequest("Missing required parameter: 'input'.", 'input', 'missing_required_parameter');
  }
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
  const { fence } = await callStore(config.logger, () =>
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

  // The worker is detached from this request: nothing of `req`/`res` reaches it, so a client
  // that disconnects right after receiving the id does not affect it.
  const { background: _background, ...rest } = body;
  runtime.startWorker({
    id,
    fence,
    state: response,
    nextSeq: events.length,
    snapshotBytes: snapshot.length,
    deployment,
    upstreamBody: { ...rest, model: deployment.upstreamModel, stream: true },
  });
  config.logger.info('background response created', { id, model: body.model });

  if (stream) {
    await streamEvents(runtime, req, res, id, owner, -1);
  } else {
    res.status(200).json(response);
  }
}
