// The checked form of a `POST /responses` request, worked out once and shared by the parts that
// need it (the limiter admits against the deployment; the router creates or passes through).

import type { Request } from 'express';
import type { DeploymentConfig } from '../config/options';
import { findDeployments, isNativeBackgroundRequest, shouldUsePolling } from '../config/routing';
import { ApiError } from '../errors';
import type { Runtime } from '../runtime';
import type { AdmissionInput } from '../limiter/types';
import { assertModelAllowed } from './auth';
import { toChatCompletionsRequest } from '../worker/chat-request';
import { checkCreateBody, type CreateResponseBody } from './create-request';
import { principalOf } from './http';

/** A validated create request: its body, its deployment and its path. */
export interface CreateContext {
  body: CreateResponseBody;
  /** The deployment that serves the request (the limiter may move it along `deployments`). */
  deployment: DeploymentConfig;
  /**
   * Every deployment of the model name, in the order they are tried: the first admitted one
   * serves, the others are the failover order for attempts that fail before any event.
   */
  deployments: DeploymentConfig[];
  /** True when the request is served by polling via the store. */
  polling: boolean;
  /** Set by the limiter once admitted; rolled back if the create does not happen. */
  admission?: AdmissionInput;
}

const prepared = new WeakMap<Request, CreateContext>();

/** Round-robin positions, per runtime and model name. */
const rotations = new WeakMap<Runtime, Map<string, number>>();

/**
 * The deployments serving `model` in the order a request tries them, per the routing strategy:
 * a fresh random order (`simple-shuffle`), or the list rotated one step further per request
 * (`round-robin`, per instance). A 400 naming the model when none serves it.
 */
export function orderDeployments(runtime: Runtime, model: string): DeploymentConfig[] {
  const candidates = findDeployments(runtime.config.models, model);
  if (!candidates.length) {
    throw new ApiError(400, `The model '${model}' does not exist or is not served here.`, { param: 'model', code: 'model_not_found' });
  }
  if (candidates.length === 1) return candidates;
  if (runtime.config.routingStrategy === 'round-robin') {
    let positions = rotations.get(runtime);
    if (!positions) rotations.set(runtime, (positions = new Map()));
    const at = positions.get(model) ?? 0;
    positions.set(model, (at + 1) % candidates.length);
    return [...candidates.slice(at), ...candidates.slice(0, at)];
  }
  for (let i = candidates.length - 1; i > 0; i -= 1) {
    const j = Math.floor(Math.random() * (i + 1));
    [candidates[i], candidates[j]] = [candidates[j], candidates[i]];
  }
  return candidates;
}

/**
 * The deployments that can take `body`: a Chat Completions deployment only when the request maps
 * onto Chat Completions, and not for a background request that polling does not cover (native
 * background mode, or polling off: Chat Completions has no background mode of its own). When none
 * can, the first reason is the 400.
 */
function servableDeployments(runtime: Runtime, deployments: DeploymentConfig[], body: CreateResponseBody, polling: boolean): DeploymentConfig[] {
  let refusal: ApiError | undefined;
  const noBackgroundMode = (): ApiError =>
    isNativeBackgroundRequest(runtime.config, body)
      ? new ApiError(400, `The model '${body.model}' is in nativeBackgroundMode, but its deployment offers only Chat Completions, which has no background mode.`, {
          param: 'model',
          code: 'native_background_unsupported',
        })
      : new ApiError(
          400,
          `The model '${body.model}' is served through Chat Completions, which has no background mode of its own, and polling is off for it (backgroundMode.pollingViaCache).`,
          { param: 'background', code: 'unsupported_for_model' },
        );
  const servable = deployments.filter((d) => {
    if (d.upstreamApi !== 'chat_completions') return true;
    const mapped = body.background === true && !polling ? noBackgroundMode() : toChatCompletionsRequest(body, d.upstreamModel);
    if (mapped instanceof ApiError) {
      refusal ??= mapped;
      return false;
    }
    return true;
  });
  if (!servable.length && refusal) throw refusal;
  return servable;
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
  const polling = shouldUsePolling(runtime.config, body);
  const deployments = servableDeployments(runtime, orderDeployments(runtime, body.model), body, polling);
  const ctx: CreateContext = { body, deployment: deployments[0], deployments, polling };
  prepared.set(req, ctx);
  return ctx;
}
