// The checked form of a `POST /responses` request, worked out once per request by its context:
// the limiter admits against its deployments; the create route serves it.

import type { Request } from 'express';
import type { DeploymentConfig } from '../config/options';
import { findDeployments, isNativeBackgroundRequest, shouldUsePolling } from '../config/routing';
import { ApiError } from '../errors';
import type { Principal, Runtime } from '../runtime';
import { requestContext, type CreateRequest } from './request-context';
import { assertModelAllowed } from './auth';
import { toChatCompletionsRequest } from '../upstream/chat-request';
import { upstreamPathProblem } from '../upstream/client';
import { checkCreateBody, type CreateResponseBody } from './create-request';
import { resolveContinuation } from '../conversation/continuation';
import { bodyForDeployment, continuationDeployments, type Continuation } from '../conversation/continuation-body';

/**
 * The deployments serving `model` in the order a request tries them, per the routing strategy:
 * a fresh random order (`simple-shuffle`), or the list rotated one step further per request
 * (`round-robin`, per instance and model group). A 400 naming the model when none serves it.
 */
export function orderDeployments(runtime: Runtime, model: string): DeploymentConfig[] {
  const candidates = findDeployments(runtime.config.models, model);
  if (!candidates.length) {
    throw new ApiError(400, `The model '${model}' does not exist or is not served here.`, { param: 'model', code: 'model_not_found' });
  }
  if (candidates.length === 1) return candidates;
  if (runtime.config.routingStrategy === 'round-robin') {
    // One position per configured model group (the deployments' modelName, a wildcard included),
    // not per requested name: the state stays bounded by the configuration whatever names arrive.
    const group = candidates[0].modelName;
    const at = (runtime.rotations.get(group) ?? 0) % candidates.length;
    runtime.rotations.set(group, (at + 1) % candidates.length);
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
function servableDeployments(
  runtime: Runtime,
  deployments: DeploymentConfig[],
  body: CreateResponseBody,
  polling: boolean,
  continuation: Continuation | undefined,
): DeploymentConfig[] {
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
    const pathProblem = upstreamPathProblem(d, 'chat/completions');
    if (pathProblem) {
      refusal ??= new ApiError(400, `The model '${body.model}' cannot be served: ${pathProblem}.`, { param: 'model', code: 'invalid_deployment_name' });
      return false;
    }
    const mapped = body.background === true && !polling ? noBackgroundMode() : toChatCompletionsRequest(bodyForDeployment(body, continuation, d), d.upstreamModel);
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
 * Validates the body (400 naming the field), checks `principal` may use the model (403), resolves
 * the deployments (400 for an unknown model) and, with `previous_response_id`, how each of them
 * gets the earlier turns (400 for an unknown or someone else's id). Run once per request, by its context.
 */
export async function prepareCreate(runtime: Runtime, principal: Principal, raw: unknown): Promise<CreateRequest> {
  const body = checkCreateBody(raw, runtime.config);
  if (body instanceof ApiError) throw body;
  if (body.conversation !== undefined && body.conversation !== null) {
    throw new ApiError(400, "The Conversations API ('conversation') is not supported here; chain turns with 'previous_response_id' instead.", {
      param: 'conversation',
      code: 'unsupported_parameter',
    });
  }
  assertModelAllowed(principal, body.model);
  const polling = shouldUsePolling(runtime.config, body);
  let candidates = orderDeployments(runtime, body.model);
  let continuation: Continuation | undefined;
  if (typeof body.previous_response_id === 'string') {
    continuation = await resolveContinuation(runtime.config, principal, body.previous_response_id, candidates);
    candidates = continuationDeployments(continuation, candidates);
  }
  const deployments = servableDeployments(runtime, candidates, body, polling, continuation);
  return { body, polling, native: !polling && isNativeBackgroundRequest(runtime.config, body), deployments, continuation };
}

/** The validated create request of `req`, worked out once per request (by the limiter or the create route). */
export function createRequestOf(runtime: Runtime, req: Request): Promise<CreateRequest> {
  const ctx = requestContext(req);
  return ctx.create(() => prepareCreate(runtime, ctx.principal, req.body));
}
