// The admission step before any response id exists. This version has no limits of its own yet:
// it refuses new responses while the router is shutting down. Rate limits, parallel slots,
// budgets and pre-call hooks are listed as not implemented in the README.

import type { NextFunction, Request, Response } from 'express';
import { ApiError } from '../errors';
import type { ResponsesPollingOptions } from '../config/options';
import { runtimeFor, type Runtime } from '../runtime';
import { sendError } from './http';

/** Admits `POST /responses` requests; refuses with 503 once `close()` has begun. */
export function preCallLimiter(options: ResponsesPollingOptions | Runtime = {}) {
  const runtime = runtimeFor(options);
  return function responsesPreCallLimiter(req: Request, res: Response, next: NextFunction): void {
    if (req.method === 'POST' && runtime.isClosing) {
      sendError(res, new ApiError(503, 'The server is shutting down and accepts no new responses.', { code: 'server_shutting_down', headers: { 'retry-after': '1' } }));
      return;
    }
    next();
  };
}
