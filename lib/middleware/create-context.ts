// The checked form of a `POST /responses` request, worked out once and shared by the parts that
// need it (the limiter admits against the deployment; the router creates or passes through).

import type { Request } from 'express';
import type { DeploymentConfig } from '../config/options';
import { findDeployments, shouldUsePolling } from '../config/routing';
import { ApiError } from '../errors';
import type { Runtime } from '../runtime';
import type { AdmissionInput } from '../limiter/types';
import { assertModelAllowed } from './auth';
import { checkCreateBody, type CreateResponseBody } from './create-request';
import { principalOf } from './http';

/** A validated create request: its body, its deployment and its path. */
export interface CreateContext {
  body: CreateResponseBody;
  deployment: DeploymentConfig;
  /** True when the request is served by polling via the store. */
  polling: boolean;
  /** Set by the limiter once admitted; rolled back if the create does not happen. */
  admission?: AdmissionInput;
}

const prepared = new WeakMap<Request, CreateContext>();

/** The deployment serving `model` (several share the load, picked at random), or a 400 naming it. */
export function resolveDeployment(runtime: Runtime, model: string): DeploymentConfig {
  const candidates = findDeployments(runtime.config.models, model);
  if (!candidates.length) {
    throw new ApiError(400, `The model '${model}' does not exist or is not served here.`, { param: 'model', code: 'model_not_found' });
  }
  return candidates[Math.floor(Math.random() * candidates.length)];
}

/**
 * Validates the body (400 naming the field), checks the principal may use the model (403), and
 * resolves the deployment (400 for an unknown model). Runs once per request.
 */
export function prepareCreate(runtime: Runtime, req: Request): CreateContext {
  const existing = prepared.get(req);
  if (existing) return existing;
  const body = checkCreateBody(req.body);
  if (body instanceof ApiError) throw body;
  assertModelAllowed(principalOf(req), body.model);
  const deployment = resolveDeployment(runtime, body.model);
  const ctx: CreateContext = { body, deployment, polling: shouldUsePolling(runtime.config, body) };
  prepared.set(req, ctx);
  return ctx;
}
