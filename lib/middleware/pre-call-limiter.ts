// Admission before any response id exists: per-key and per-deployment limits (rpm, tpm, running
// background responses, budget), then the host app's pre-call hooks. A refusal leaves nothing
// behind: no id, no state, no upstream call, no counter left incremented.

import { createHash } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { DeploymentConfig, KeyParallelLimit, PreCallHookContext, ResponsesPollingOptions } from '../config/options';
import { queueLifeMs } from '../queue/memory-queue';
import { ApiError, limiterUnavailable, toApiError } from '../errors';
import { rateLimitHeaders } from '../limiter/rate-headers';
import { Admission } from '../limiter/admission';
import type { AdmissionInput, AdmissionResult, LimitSubject, RateState } from '../limiter/types';
import { ownerHash, runtimeFor, type Principal, type Runtime } from '../runtime';
import { createRequestOf } from './create-context';
import { newAdmissionId } from './ids';
import { jsonBody, sendError } from './http';
import { requestContext } from './request-context';
import { currentLogContext } from '../observability/request-id';
import { createSpanOf, SPAN_ATTRIBUTES, SPAN_NAMES, TraceSpan } from '../observability/tracing';

/**
 * The limiter key of a deployment: stable across instances that share the configuration, and
 * distinct for entries of one model name that differ in model, base URL or key (each has its own
 * quota upstream). Only a digest is kept: the key cannot be read back from it.
 */
export function deploymentSubjectKey(deployment: DeploymentConfig): string {
  const identity = [deployment.modelName, deployment.model, deployment.apiBase, deployment.apiKey ?? ''].join('\u0000');
  return `deployment:${createHash('sha256').update(identity).digest('hex').slice(0, 16)}`;
}

/**
 * The subjects a request is counted against: the caller's key (running responses only for
 * background requests served by polling) and the deployment. Subjects without limits are left out.
 * With `keyParallelLimit: 'queue'`, a polled create over the key's running cap is admitted without
 * its slot and waits in the queue for it; anything else over the cap is refused (it cannot wait).
 */
export function limitSubjects(principal: Principal, deployment: DeploymentConfig, polling: boolean, keyParallelLimit: KeyParallelLimit = 'refuse'): LimitSubject[] {
  const subjects: LimitSubject[] = [];
  const own = { ...(principal.limits ?? {}) };
  if (!polling) delete own.maxParallel;
  if (Object.values(own).some((v) => v !== undefined)) {
    const subject: LimitSubject = { key: `key:${ownerHash(principal)}`, limits: own };
    if (keyParallelLimit === 'queue' && own.maxParallel !== undefined) subject.queueWhenFull = true;
    subjects.push(subject);
  }
  if (deployment.rpm !== undefined || deployment.tpm !== undefined) {
    subjects.push({ key: deploymentSubjectKey(deployment), limits: { rpm: deployment.rpm, tpm: deployment.tpm } });
  }
  return subjects;
}

function refusal(result: Extract<AdmissionResult, { admitted: false }>): ApiError {
  const headers = rateLimitHeaders(result.state);
  const who = result.subject.startsWith('deployment:') ? 'this model deployment' : 'this key';
  if (result.reason === 'budget') {
    // Waiting does not help: the SDK must not retry.
    return new ApiError(429, `The budget of ${who} is exhausted.`, {
      type: 'insufficient_quota',
      code: 'insufficient_quota',
      headers: { ...headers, 'x-should-retry': 'false' },
    });
  }
  if (result.retryAfterMs !== null) headers['retry-after'] = String(Math.max(1, Math.ceil(result.retryAfterMs / 1000)));
  const what =
    result.reason === 'rpm'
      ? `Rate limit reached for requests per minute on ${who}.`
      : result.reason === 'tpm'
        ? `Rate limit reached for tokens per minute on ${who}.`
        : `Too many background responses running at once on ${who}.`;
  return new ApiError(429, `${what} Retry after ${headers['retry-after'] ?? '1'}s.`, {
    type: result.reason === 'tpm' ? 'tokens' : 'requests',
    code: 'rate_limit_exceeded',
    headers,
  });
}

/** A hook's refusal as an ApiError: an ApiError as it is, an error with an HTTP `status`, else 500. */
function hookRefusal(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const e = err as { status?: unknown; message?: unknown; code?: unknown };
  if (e && typeof e.status === 'number' && e.status >= 400 && e.status < 600 && typeof e.message === 'string') {
    return new ApiError(e.status, e.message, { code: typeof e.code === 'string' ? e.code : 'request_refused' });
  }
  return toApiError(err);
}

/**
 * Admits `POST /responses` requests: refuses with 503 during shutdown, counts the request against
 * the caller's and the deployment's limits in one atomic step (429 with `retry-after` and
 * `x-ratelimit-*` headers when over; the same headers on success), then runs the pre-call hooks.
 * Anything that refuses after admission rolls it back. With the limiter's store unreachable it
 * fails closed (503) unless `limiterFailOpen` is set.
 */
export function preCallLimiter(options: ResponsesPollingOptions | Runtime = {}) {
  const runtime = runtimeFor(options);
  const { config } = runtime;
  const parse = jsonBody(config.maxBodyBytes);
  const admit = async function responsesAdmission(req: Request, res: Response, next: NextFunction): Promise<void> {
    if (runtime.isClosing) {
      sendError(res, shuttingDown());
      return;
    }
    const ctx = requestContext(req);
    if (ctx.isAdmitted) {
      next();
      return;
    }
    const create = await createRequestOf(runtime, req);
    const { principal } = ctx;
    let admission = Admission.none();
    let rateState: RateState | undefined;
    let serving = create.deployments[0];
    // Deployments over their own rpm/tpm are skipped for the next in order; a refusal by the
    // caller's own limits (or by the last deployment) is the answer. Skipped ones are not failed over to.
    const skipped = new Set<DeploymentConfig>();
    for (const [index, deployment] of create.deployments.entries()) {
      const subjects = limitSubjects(principal, deployment, create.polling, config.keyParallelLimit);
      serving = deployment;
      if (!subjects.length) break;
      const input: AdmissionInput = { id: newAdmissionId(), subjects, leaseMs: config.worker.leaseMs };
      // A polled response waits in the queue before a worker renews its slot: the slot is held for
      // the longest wait on top of the lease, so it cannot lapse (and let one more in) meanwhile.
      if (create.polling) input.holdMs = config.worker.leaseMs + queueLifeMs(config.worker.maxQueueMs);
      let result: AdmissionResult | undefined;
      try {
        result = await config.limiter.admit(input);
      } catch (err) {
        config.logger.warn('limiter unreachable', { error: err instanceof Error ? err.message : String(err), failOpen: config.limiterFailOpen });
        config.metrics.storeError('limiter');
        if (!config.limiterFailOpen) {
          config.metrics.limiterRefusal('limiter_unavailable');
          throw limiterUnavailable();
        }
      }
      if (result && !result.admitted) {
        if (result.subject.startsWith('deployment:') && index < create.deployments.length - 1) {
          skipped.add(deployment);
          continue;
        }
        config.logger.info('request refused by the limiter', { reason: result.reason, subject: result.subject });
        config.metrics.limiterRefusal(result.reason);
        throw refusal(result);
      }
      if (result) {
        admission = Admission.admitted(config.limiter, config.logger, input, create.polling, result.awaiting);
        rateState = result.state;
      }
      break;
    }
    const deployments = [serving, ...create.deployments.filter((d) => d !== serving && !skipped.has(d))];
    const hookContext: PreCallHookContext = { req, principal, body: create.body, model: create.body.model, polling: create.polling };
    try {
      for (const hook of config.preCallHooks) await hook(hookContext);
    } catch (err) {
      await admission.refuse();
      config.metrics.limiterRefusal('hook');
      throw hookRefusal(err);
    }
    // Only now: a hook's refusal rolls the admission back, so headers counting it would be wrong.
    if (rateState) for (const [name, value] of Object.entries(rateLimitHeaders(rateState))) res.setHeader(name, value);
    ctx.admitted({ admission, deployments });
    next();
  };
  // The admission span, inside the create span: ended before the create route runs, or at a refusal.
  const admitTraced = async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const requestId = currentLogContext()?.requestId;
    const model = typeof req.body?.model === 'string' ? (req.body.model as string) : undefined;
    const span = TraceSpan.start(SPAN_NAMES.admission, { [SPAN_ATTRIBUTES.requestId]: requestId, [SPAN_ATTRIBUTES.model]: model }, createSpanOf(req, res, requestId));
    try {
      await admit(req, res, ((err?: unknown) => {
        span.end();
        next(err);
      }) as NextFunction);
    } catch (err) {
      span.fail(err, err instanceof ApiError ? (err.code ?? undefined) : undefined);
      throw err;
    } finally {
      span.end();
    }
  };
  // Refusals are answered here, OpenAI-shaped, whatever error handler the host app has.
  return function responsesPreCallLimiter(req: Request, res: Response, next: NextFunction): void {
    if (req.method !== 'POST') {
      next();
      return;
    }
    parse(req, res, (parseError?: unknown) => {
      if (parseError) {
        sendError(res, toApiError(parseError));
        return;
      }
      admitTraced(req, res, next).catch((err: unknown) => {
        const apiError = toApiError(err);
        if (apiError.status >= 500 && !(err instanceof ApiError)) config.logger.error('admission failed', { error: String(err) });
        sendError(res, apiError);
      });
    });
  };
}

/**
 * Refuses a create that passed admission while `close()` runs: the client gets a 503 to retry
 * elsewhere (the create route gives the admission back).
 */
export function refuseWhileClosing(runtime: Runtime): void {
  if (!runtime.isClosing) return;
  throw shuttingDown();
}

/** The 503 of a create while `close()` runs. */
function shuttingDown(): ApiError {
  return new ApiError(503, 'The server is shutting down and accepts no new responses.', { code: 'server_shutting_down', headers: { 'retry-after': '1' } });
}
