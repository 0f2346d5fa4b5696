// Request ids: an `x-request-id` honoured or generated per request and returned, and an async
// context that puts it (and the response id, inside a worker) on every log line.

import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from '../types';

/** The header a request id is read from and returned in. */
export const REQUEST_ID_HEADER = 'x-request-id';

/** What log lines of the current request (or worker) carry. */
export interface LogContext {
  /** The request id of the request, or of the create that started the worker. */
  requestId?: string;
  /** The response a worker runs. */
  responseId?: string;
}

const storage = new AsyncLocalStorage<LogContext>();

/** An incoming id is kept only when it is short and plain: it ends up in logs and headers. */
const ACCEPTED_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/** 64 random bits per process, so ids from different instances never collide. */
const PROCESS_PART = randomBytes(8).toString('hex');
let sequence = 0;

/**
 * A fresh request id: `req_`, 16 hex digits of this process, 12 of a counter. Unique, not secret
 * (it is echoed in headers and logs); a counter because a random draw per request showed in profiles.
 */
export function newRequestId(): string {
  sequence = (sequence + 1) % 0x1000000000000;
  return `req_${PROCESS_PART}${sequence.toString(16).padStart(12, '0')}`;
}

/** The incoming `x-request-id` when it is acceptable (1–128 of `A-Z a-z 0-9 . _ : @ / + = -`), else a new one. */
export function requestIdFor(incoming: unknown): string {
  return typeof incoming === 'string' && ACCEPTED_ID.test(incoming) ? incoming : newRequestId();
}

/** The log context of the code running now, if any. */
export function currentLogContext(): LogContext | undefined {
  return storage.getStore();
}

/** Runs `fn` (and everything it starts asynchronously) with `context` on its log lines. */
export function runWithLogContext<T>(context: LogContext, fn: () => T): T {
  return storage.run(context, fn);
}

/**
 * A logger that adds `request_id` (and `response_id` inside a worker) of the current async
 * context to every line it passes to `base`. Fields given by the caller win.
 */
export function withLogContext(base: Logger): Logger {
  if ((base as ContextLogger)[CONTEXT_LOGGER]) return base;
  const wrap = (level: keyof Logger) => (message: string, fields?: Record<string, unknown>) => {
    const ctx = storage.getStore();
    if (!ctx) {
      base[level](message, fields);
      return;
    }
    const extra: Record<string, unknown> = {};
    if (ctx.requestId !== undefined) extra.request_id = ctx.requestId;
    if (ctx.responseId !== undefined) extra.response_id = ctx.responseId;
    base[level](message, { ...extra, ...fields });
  };
  const logger: ContextLogger = { debug: wrap('debug'), info: wrap('info'), warn: wrap('warn'), error: wrap('error'), [CONTEXT_LOGGER]: true };
  return logger;
}

const CONTEXT_LOGGER = Symbol('responses-polling.contextLogger');
type ContextLogger = Logger & { [CONTEXT_LOGGER]?: true };

/**
 * Honours a plain incoming `x-request-id` (else generates one), returns it as a response header,
 * and runs the rest of the request in a log context that carries it. Mounted by
 * `responsesPolling()` on its own routes; exported for hosts that compose the parts themselves.
 */
export function requestId() {
  return function responsesRequestId(req: Request, res: Response, next: NextFunction): void {
    // An id the host app (or a requestId() earlier in the chain) already answers with is kept.
    const preset = res.getHeader(REQUEST_ID_HEADER);
    const id = typeof preset === 'string' && ACCEPTED_ID.test(preset) ? preset : requestIdFor(req.headers[REQUEST_ID_HEADER]);
    res.setHeader(REQUEST_ID_HEADER, id);
    storage.run({ requestId: id }, next);
  };
}
