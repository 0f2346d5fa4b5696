// Who is calling: the master key (an administrator) or, when no key is configured, one
// anonymous principal for a mount point the host app protects itself.

import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { unauthorized } from '../errors';
import type { ResponsesPollingOptions } from '../config/options';
import { runtimeFor, type Runtime } from '../runtime';
import { contextOf, sendError } from './http';

/** The key a request presents: `Authorization: Bearer <key>`, or Azure-style `api-key`. */
export function presentedKey(req: Request): string | undefined {
  const header = req.headers.authorization;
  if (typeof header === 'string') {
    const match = /^Bearer\s+(.+)$/i.exec(header.trim());
    if (match) return match[1].trim();
  }
  const apiKey = req.headers['api-key'];
  return typeof apiKey === 'string' && apiKey ? apiKey.trim() : undefined;
}

function sha256(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/**
 * Authenticates each request and sets its principal. With a master key, a request without it
 * gets 401 (OpenAI-shaped); keys are compared as SHA-256 digests in constant time and never
 * logged. Without a master key every caller is the anonymous principal.
 */
export function auth(options: ResponsesPollingOptions | Runtime = {}) {
  const runtime = runtimeFor(options);
  const masterDigest = runtime.config.masterKey ? sha256(runtime.config.masterKey) : undefined;
  return function responsesAuth(req: Request, res: Response, next: NextFunction): void {
    if (!masterDigest) {
      contextOf(req).principal = { id: 'anonymous', admin: false };
      next();
      return;
    }
    const key = presentedKey(req);
    if (!key) {
      sendError(res, unauthorized('Missing API key. Send it as "Authorization: Bearer <key>".'));
      return;
    }
    if (!timingSafeEqual(sha256(key), masterDigest)) {
      sendError(res, unauthorized());
      return;
    }
    contextOf(req).principal = { id: 'master', admin: true };
    next();
  };
}
