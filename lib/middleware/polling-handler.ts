// The lifecycle routes of background responses: GET (snapshot or event stream), cancel, DELETE.

import { Router, type Request, type Response } from 'express';
import type { ResponsesPollingOptions } from '../config/options';
import { ApiError, invalidRequest, responseNotFound } from '../errors';
import { ownerFilter, runtimeFor, type Runtime } from '../runtime';
import { isTerminalStatus, type StoredResponse } from '../types';
import { dropQueued, mayStillBeQueued } from '../queue/drop';
import { finalSnapshot, materialize, materializedJson } from '../worker/materialize';
import { asyncHandler, callStore, errorResponder, plainJson } from './http';
import { principalOf } from './request-context';
import { streamEvents } from './event-stream';
import { forwardNative } from './native-forward';
import { RESPONSES_PATHS } from './background-mode-router';
import { addInputItemsRoute } from './input-items-route';

const byId = RESPONSES_PATHS.map((p) => `${p}/:id`);
const cancelById = RESPONSES_PATHS.map((p) => `${p}/:id/cancel`);

/**
 * The ETag of a completed response answered as stored ({@link finalSnapshot}): that answer never
 * changes again, so its last sequence number and length identify it.
 * Saves the hash Express computes over the whole body by default (the `etag` setting; nothing
 * is set when the host app turned it off), which showed in poll profiles and grows with the body.
 */
function immutableETag(res: Response, stored: StoredResponse): void {
  if (typeof res.app.get('etag fn') !== 'function') return;
  res.setHeader('ETag', `W/"rp-${stored.meta.lastSeq.toString(16)}-${stored.snapshot.length.toString(16)}"`);
}

/** True for the 404 an unknown (or someone else's) id gets. */
function isNotFound(err: unknown): boolean {
  return err instanceof ApiError && err.status === 404;
}

function parseStartingAfter(raw: unknown): number {
  if (raw === undefined) return -1;
  if (typeof raw !== 'string' || !/^\d{1,15}$/.test(raw)) {
    throw invalidRequest("Invalid 'starting_after': expected a non-negative integer sequence number.", 'starting_after', 'invalid_value');
  }
  return Number(raw);
}

/**
 * `GET /v1/responses/:id` (with `?stream=true[&starting_after=N]` to replay and follow events),
 * `POST /v1/responses/:id/cancel` and `DELETE /v1/responses/:id`, also under `/responses`.
 * A response that belongs to someone else answers 404, like an unknown id (administrators excepted).
 */
export function pollingHandler(options: ResponsesPollingOptions | Runtime = {}): Router {
  const runtime = runtimeFor(options);
  const router = Router();
  addLifecycleRoutes(router, runtime);
  router.use(RESPONSES_PATHS, errorResponder(runtime.config.logger));
  return router;
}

/**
 * Adds the routes of {@link pollingHandler} to `router`, without an error responder: how
 * `responsesPolling()` composes one flat router (every nested router is more matching per request).
 */
export function addLifecycleRoutes(router: Router, runtime: Runtime): void {
  const { config } = runtime;
  addInputItemsRoute(router, runtime, RESPONSES_PATHS);

  router.get(
    byId,
    asyncHandler(async function retrieveResponse(req: Request, res: Response) {
      const id = String(req.params.id);
      const owner = ownerFilter(principalOf(req));
      // Express 5 parses the query string on every `req.query` read: a plain poll has none.
      if (req.url.includes('?') && req.query.stream === 'true') {
        try {
          await streamEvents(runtime, req, res, id, owner, { afterSeq: parseStartingAfter(req.query.starting_after) });
        } catch (err) {
          // Not a polling id (its 404 comes before any byte): maybe a provider's own background id.
          if (!isNotFound(err) || res.headersSent || !(await forwardNative(runtime, req, res, id, 'retrieve'))) throw err;
        }
        return;
      }
      const stored = await callStore(config, () => config.store.read(id, owner));
      if (!stored) {
        if (await forwardNative(runtime, req, res, id, 'retrieve')) return;
        throw responseNotFound(id);
      }
      runtime.noticeRead(id, stored);
      // A host app's JSON settings (spaces, replacer, escape) must still apply to the answer.
      if (plainJson(res)) {
        const final = finalSnapshot(stored);
        if (final !== undefined) immutableETag(res, stored);
        res.status(200).type('application/json').send(final ?? materializedJson(stored));
      } else {
        res.status(200).json(materialize(stored));
      }
    }),
  );

  router.post(
    cancelById,
    asyncHandler(async function cancelResponse(req: Request, res: Response) {
      const id = String(req.params.id);
      const result = await callStore(config, () =>
        config.store.cancel(id, ownerFilter(principalOf(req)), config.backgroundMode.ttl),
      );
      if (result.outcome === 'not_found') {
        if (await forwardNative(runtime, req, res, id, 'cancel')) return;
        throw responseNotFound(id);
      }
      // The store already published the cancel to every instance; stopping here is immediate.
      runtime.workers.get(id)?.stop('cancelled');
      const response = materialize(result.response);
      if (result.outcome === 'terminal') {
        const status = isTerminalStatus(response.status) ? response.status : result.response.meta.status;
        throw new ApiError(400, `Cannot cancel a ${status} response.`, { param: 'response_id', code: 'response_not_cancellable' });
      }
      if (result.outcome === 'cancelled') {
        // Only the instance whose cancel won reports it, whichever instance runs the worker.
        config.logger.info('background response cancelled', { id });
        runtime.responseEnded({ id, path: 'polling', status: 'cancelled', response, owner: result.response.meta.owner });
        // Still waiting in the queue: out of it now, and its key's slot given back.
        if (mayStillBeQueued(result.response.meta)) await dropQueued(config, id, response.model);
      }
      res.status(200).json(response);
    }),
  );

  router.delete(
    byId,
    asyncHandler(async function deleteResponse(req: Request, res: Response) {
      const id = String(req.params.id);
      const result = await callStore(config, () => config.store.delete(id, ownerFilter(principalOf(req))));
      if (!result.deleted) {
        if (await forwardNative(runtime, req, res, id, 'delete')) return;
        throw responseNotFound(id);
      }
      runtime.stopWorker(id, 'deleted');
      // Its turn goes with it (it would expire unread anyway: a turn is read only with its record).
      void config.store.forgetTurn(id).catch(() => undefined);
      if (result.ended) {
        // Only the delete that ended a running response reports it, whichever instance runs its worker.
        const ended = materialize(result.ended);
        runtime.responseEnded({ id, path: 'polling', status: 'deleted', response: ended, owner: result.ended.meta.owner });
        if (mayStillBeQueued(result.ended.meta)) await dropQueued(config, id, ended.model);
      }
      res.status(200).json({ id, object: 'response', deleted: true });
    }),
  );
}
