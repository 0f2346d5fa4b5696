// The answer for a request under the responses paths that no route serves: a 405 with `allow`
// for a known path and another method, else a 404, both OpenAI-shaped (never Express's HTML page).

import type { NextFunction, Request, Response } from 'express';
import { ApiError } from '../errors';

/** The methods each path below `/v1/responses` (or `/responses`) is served with, by its segments. */
const ALLOWED: ReadonlyArray<{ matches(segments: string[]): boolean; allow: string }> = [
  { matches: (s) => s.length === 0, allow: 'POST' },
  { matches: (s) => s.length === 1, allow: 'GET, DELETE' },
  { matches: (s) => s.length === 2 && s[1] === 'cancel', allow: 'POST' },
  { matches: (s) => s.length === 2 && s[1] === 'input_items', allow: 'GET' },
];

/** The longest request path quoted back in a 404 message. */
const MAX_QUOTED_PATH = 200;

/**
 * Mounted on the responses paths after every route: answers what no route matched. OPTIONS is
 * left to Express (or the host app's CORS handling), which answers it with the allowed methods.
 */
export function noRoute() {
  return function responsesNoRoute(req: Request, _res: Response, next: NextFunction): void {
    if (req.method === 'OPTIONS') {
      next();
      return;
    }
    const segments = req.path.split('/').filter(Boolean);
    const known = ALLOWED.find((entry) => entry.matches(segments));
    if (known) {
      next(
        new ApiError(405, `Method ${req.method} is not allowed here; allowed: ${known.allow}.`, {
          type: 'invalid_request_error',
          code: 'method_not_allowed',
          headers: { allow: known.allow },
        }),
      );
      return;
    }
    const path = req.originalUrl.split('?')[0].slice(0, MAX_QUOTED_PATH);
    next(new ApiError(404, `Invalid URL (${req.method} ${path})`, { type: 'invalid_request_error', code: 'unknown_url' }));
  };
}
