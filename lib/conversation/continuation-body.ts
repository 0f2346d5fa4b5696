// The body each deployment gets for a create that continues an earlier turn: the upstream's own id
// where the turn is held, else the earlier turns expanded inline. Pure.

import type { DeploymentConfig } from '../config/options';
import type { CreateResponseBody } from '../middleware/create-request';

/** How a create continues an earlier turn. */
export interface Continuation {
  /** The previous turn, as the client named it. */
  previousId: string;
  /** The deployment that holds the previous turn and the upstream's id for it there. */
  held?: { deployment: DeploymentConfig; upstreamId: string };
  /** Every earlier turn's input and output items, oldest first: for a deployment that holds nothing. */
  expanded?: unknown[];
}

/** True when `a` and `b` are the same configured deployment (wildcard copies included). */
export function sameDeployment(a: DeploymentConfig, b: DeploymentConfig): boolean {
  return a.modelName === b.modelName && a.apiBase === b.apiBase && a.apiKey === b.apiKey && a.upstreamModel === b.upstreamModel;
}

/** The body `deployment` gets for a create that continues `continuation` (the body itself without one). */
export function bodyForDeployment(body: CreateResponseBody, continuation: Continuation | undefined, deployment: DeploymentConfig): CreateResponseBody {
  if (!continuation) return body;
  if (continuation.held && sameDeployment(continuation.held.deployment, deployment)) {
    return { ...body, previous_response_id: continuation.held.upstreamId };
  }
  const { previous_response_id: _previous, ...rest } = body;
  const own = body.input === undefined ? [] : typeof body.input === 'string' ? [{ role: 'user', content: body.input }] : (body.input as unknown[]);
  return { ...rest, input: [...(continuation.expanded ?? []), ...own] };
}

/** The deployments that can serve a continuation: the holder first, the others only when the chain could be expanded. */
export function continuationDeployments(continuation: Continuation | undefined, candidates: DeploymentConfig[]): DeploymentConfig[] {
  if (!continuation?.held) return candidates;
  const { deployment } = continuation.held;
  const holder = candidates.filter((d) => sameDeployment(d, deployment));
  return continuation.expanded ? [...holder, ...candidates.filter((d) => !sameDeployment(d, deployment))] : holder;
}

