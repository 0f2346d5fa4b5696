// Who is calling: the host app's `authenticate(req)`, else the master key (an administrator) or a
// virtual key; with `auth: 'none'` (or nothing configured), one anonymous principal. And which
// models a principal may use.

import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { ApiError, unauthorized } from '../errors';
import { anyModelPatternMatches } from '../config/model-pattern';
import type { ResponsesPollingOptions } from '../config/options';
import type { Logger } from '../types';
import { runtimeFor, type Principal, type Runtime } from '../runtime';
import { sendError } from './http';
import { requestContext } from './request-context';

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

/** Whether `model` is one of `allowed` (exact, or a trailing `*` matching any suffix). */
export function modelAllowed(allowed: readonly string[], model: string): boolean {
  return anyModelPatternMatches(allowed, model);
}

/**
 * Throws a 403 (`model_not_allowed`, OpenAI's PermissionDeniedError) naming `model` when the
 * principal has a `models` list that does not allow it.
 */
export function assertModelAllowed(principal: Principal, model: string): void {
  if (principal.models === undefined || modelAllowed(principal.models, model)) return;
  throw new ApiError(403, `You are not allowed to use the model '${model}'.`, {
    type: 'invalid_request_error',
    param: 'model',
    code: 'model_not_allowed',
  });
}

interface KeyEntry {
  digest: Buffer;
  principal: Principal;
}

/** The master key and every virtual key, by hex digest; the keys themselves are never held. */
function keyTable(runtime: Runtime): Map<string, KeyEntry> {
  const { masterKeyHash, virtualKeys } = runtime.config;
  const table = new Map<string, KeyEntry>();
  // Principals are shared by every request of their key: frozen, so no part can change them for the next.
  for (const vk of virtualKeys) {
    const principal: Principal = { id: vk.id, admin: false, limits: Object.freeze({ ...vk.limits }) };
    if (vk.models) principal.models = Object.freeze([...vk.models]) as string[];
    table.set(vk.hash, { digest: Buffer.from(vk.hash, 'hex'), principal: Object.freeze(principal) });
  }
  // Set last: the configuration refuses a virtual key equal to the master key, and the master wins anyway.
  if (masterKeyHash) {
    table.set(masterKeyHash, { digest: Buffer.from(masterKeyHash, 'hex'), principal: Object.freeze({ id: 'master', admin: true }) });
  }
  return table;
}

const LIMIT_FIELDS = ['rpm', 'tpm', 'maxParallel', 'maxBudget', 'budgetPeriodMs'] as const;

/** What `authenticate` returned, as a Principal, or why it is not one (without its values). */
function hostPrincipal(value: unknown): Principal | string {
  const p = value as Record<string, unknown>;
  if (typeof p !== 'object' || Array.isArray(p)) return 'is not an object';
  if (typeof p.id !== 'string' || p.id === '') return 'has no id (a non-empty string)';
  if (p.admin !== undefined && typeof p.admin !== 'boolean') return 'has an admin field that is not true or false';
  if (p.models !== undefined && !(Array.isArray(p.models) && p.models.every((m) => typeof m === 'string'))) {
    return 'has a models field that is not a list of strings';
  }
  if (p.limits !== undefined) {
    const limits = p.limits as Record<string, unknown>;
    if (typeof limits !== 'object' || limits === null) return 'has a limits field that is not an object';
    const bad = LIMIT_FIELDS.filter((f) => limits[f] !== undefined && !(typeof limits[f] === 'number' && Number(limits[f]) >= 0));
    if (bad.length > 0) return `has limits that are not non-negative numbers (${bad.join(', ')})`;
    const period = limits.budgetPeriodMs;
    if (period !== undefined && !(Number.isSafeInteger(period) && Number(period) >= 1)) return 'has a budgetPeriodMs that is not a whole number of ms of at least 1';
  }
  const principal: Principal = { id: p.id, admin: p.admin === true };
  if (p.limits !== undefined) {
    const limits = p.limits as Record<string, number | undefined>;
    principal.limits = Object.fromEntries(LIMIT_FIELDS.filter((f) => limits[f] !== undefined).map((f) => [f, limits[f]]));
  }
  if (p.models !== undefined) principal.models = [...(p.models as string[])];
  return principal;
}

/** `err`'s message with every credential the request carried cut out, for the log. */
function redactedMessage(err: unknown, req: Request): string {
  let message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  const cookie = req.headers.cookie ?? '';
  // Each cookie value on its own too: a session store's error tends to quote the session id.
  const cookieValues = cookie.split(';').map((c) => c.slice(c.indexOf('=') + 1).trim());
  const secrets = [presentedKey(req), req.headers.authorization, req.headers['api-key'], cookie, ...cookieValues]
    .flat()
    .filter((s): s is string => typeof s === 'string' && s.length >= 4)
    .sort((a, b) => b.length - a.length);
  for (const secret of secrets) message = message.split(secret).join('[redacted]');
  return message;
}

function serverError(): ApiError {
  return new ApiError(500, 'The server had an error while processing your request.', { type: 'server_error', code: 'server_error' });
}

async function runAuthenticate(
  authenticate: NonNullable<Runtime['config']['authenticate']>,
  req: Request,
  logger: Logger,
): Promise<Principal | null | ApiError> {
  let value: unknown;
  try {
    value = await authenticate(req);
  } catch (err) {
    logger.error('authenticate(req) threw; answered 500', { method: req.method, path: req.path, error: redactedMessage(err, req) });
    return serverError();
  }
  if (value === null || value === undefined) return null;
  const principal = hostPrincipal(value);
  if (typeof principal === 'string') {
    logger.error(`authenticate(req) returned a principal that ${principal}; answered 500`, { method: req.method, path: req.path });
    return serverError();
  }
  return principal;
}

/**
 * Authenticates each request and sets its principal, in this order: `authenticate(req)` when
 * configured (a principal wins; nothing falls back to the keys); then the presented key, compared
 * as a SHA-256 digest in constant time with the master key (an administrator) and every virtual
 * key. A missing or unknown key gets 401, OpenAI-shaped; keys are never logged or echoed. With
 * `auth: 'none'` or nothing configured, every caller is the one anonymous principal.
 */
export function auth(options: ResponsesPollingOptions | Runtime = {}) {
  const runtime = runtimeFor(options);
  const { config } = runtime;
  const keys = keyTable(runtime);
  const authenticate = config.authenticate;

  const checkKey = (req: Request): Principal | ApiError => {
    const key = presentedKey(req);
    if (!key) return unauthorized('Missing API key. Send it as "Authorization: Bearer <key>".');
    const digest = sha256(key);
    const entry = keys.get(digest.toString('hex'));
    // The map finds the candidate by digest; the comparison that decides is constant-time.
    if (!entry || !timingSafeEqual(digest, entry.digest)) return unauthorized();
    return entry.principal;
  };

  return function responsesAuth(req: Request, res: Response, next: NextFunction): void {
    if (config.auth !== 'required') {
      requestContext(req).authenticated({ id: 'anonymous', admin: false });
      next();
      return;
    }
    const decide = (principal: Principal | ApiError) => {
      if (principal instanceof ApiError) {
        sendError(res, principal);
        return;
      }
      requestContext(req).authenticated(principal);
      next();
    };
    if (!authenticate) {
      decide(checkKey(req));
      return;
    }
    runAuthenticate(authenticate, req, config.logger)
      .then((principal) => decide(principal ?? checkKey(req)))
      .catch(next);
  };
}
