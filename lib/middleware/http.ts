// Small HTTP helpers shared by the middlewares: the async wrapper, OpenAI-shaped error answers,
// the store call guard, and the JSON body parser.

import { AsyncResource } from 'node:async_hooks';
import express from 'express';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { ApiError, invalidRequest, responseDataLost, storeUnavailable, StoreRecordLostError, toApiError } from '../errors';
import type { Logger } from '../types';
import type { ResponsesMetrics } from '../observability/metrics';

/** Sends an OpenAI-shaped error, with its headers. */
export function sendError(res: Response, err: ApiError): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  for (const [name, value] of Object.entries(err.headers)) res.setHeader(name, value);
  res.status(err.status).json(err.toBody());
}

/** Wraps an async handler so a rejection reaches `next(err)`. */
export function asyncHandler(fn: (req: Request, res: Response, next: NextFunction) => Promise<unknown>): RequestHandler {
  return function asyncRoute(req, res, next) {
    fn(req, res, next).catch(next);
  };
}

/** The error middleware of every part: OpenAI-shaped bodies, details only in the log. */
export function errorResponder(logger: Logger) {
  return function responsesErrorResponder(err: unknown, req: Request, res: Response, _next: NextFunction): void {
    // The router could not decode a path parameter (the id): the client's mistake, not a 500.
    const apiError =
      err instanceof URIError
        ? invalidRequest("Invalid 'response_id': the path holds an invalid percent-encoding.", 'response_id', 'invalid_value')
        : toApiError(err);
    if (apiError.status >= 500 && !(err instanceof ApiError)) {
      logger.error('request failed', { method: req.method, path: req.path, error: err instanceof Error ? err.message : String(err) });
    }
    sendError(res, apiError);
  };
}

/**
 * Runs a store call; a store failure (Redis down) becomes a 503 instead of a hang or a 500, is
 * logged, and is counted in `redis_errors_total`.
 */
export async function callStore<T>(config: { logger: Logger; metrics: ResponsesMetrics }, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ApiError) throw err;
    if (err instanceof StoreRecordLostError) {
      // Redis is answering; it lost data. Said once per read, so operators see eviction.
      config.logger.error('store record partly lost', { id: err.responseId, error: err.message });
      throw responseDataLost(err.responseId, err.terminal);
    }
    config.metrics.storeError('request');
    config.logger.warn('store call failed', { error: err instanceof Error ? err.message : String(err) });
    throw storeUnavailable();
  }
}

/** True when the host app sets none of Express's JSON settings (spaces, replacer, escape): `JSON.stringify` text is what `res.json` would send. */
export function plainJson(res: Response): boolean {
  const app = res.app;
  return app.get('json spaces') === undefined && app.get('json replacer') === undefined && !app.get('json escape');
}

/**
 * Answers `value`, already serialised as `json`, with `status`: the string as it is unless the
 * host app's JSON settings (spaces, replacer, escape) must apply, then `res.json(value)`.
 * Saves serialising a Response that the store step serialised already.
 */
export function sendJson(res: Response, status: number, value: unknown, json: string): void {
  if (plainJson(res)) {
    res.status(status).type('application/json').send(json);
  } else {
    res.status(status).json(value);
  }
}

/** A JSON body parser limited to `limit` bytes; skipped when the host app already parsed the body. */
export function jsonBody(limit: number): RequestHandler {
  const parse = express.json({ limit, type: () => true });
  return function responsesJsonBody(req, res, next) {
    if ((req as Request & { _body?: boolean })._body || (req.body !== undefined && typeof req.body === 'object' && req.body !== null && Object.keys(req.body).length)) {
      next();
      return;
    }
    // Bound: the parser calls back from the request stream's events, outside the request's log
    // context (request id); the resource carries that context on to the next middleware.
    // `AsyncResource.bind` would do the same but defines two deprecated accessors per call,
    // which showed in create profiles.
    const scope = new AsyncResource('responsesJsonBody');
    parse(req, res, (err?: unknown) => scope.runInAsyncScope(next, undefined, err));
  };
}
