// What a queued response carries to the worker that runs it, in any process: its request, its
// deployments (by reference, never their keys) and its limiter admission. Built and read here only.

import type { DeploymentConfig, ResponsesPollingConfig } from '../config/options';
import type { Continuation } from '../conversation/continuation-body';
import type { AdmissionJob } from '../limiter/admission';
import type { CreateResponseBody } from '../middleware/create-request';
import { deploymentOf, deploymentRef } from '../middleware/native-background';
import type { NativeDeploymentRef, QueueEnqueue } from '../types';

/** A deployment by reference, with the model names a wildcard match filled in. */
type JobDeployment = NativeDeploymentRef & { model: string; upstreamModel: string };

/** The job of a queued response, as JSON in the queue entry. */
interface JobJson {
  v: 1;
  request: CreateResponseBody;
  /** With the model names a wildcard match filled in (`model`, `upstreamModel`). */
  deployments: JobDeployment[];
  admission?: AdmissionJob;
  /** The request id of the create, so the worker's log lines can be matched with it. */
  requestId?: string;
  /** The create's span as a W3C `traceparent`, so the worker's spans join its trace. */
  traceParent?: string;
  /** The earlier turn it continues (`previous_response_id`), its deployment by reference. */
  continuation?: { previousId: string; held?: { deployment: JobDeployment; upstreamId: string }; expanded?: unknown[] };
}

/** A job read back against the configuration of the worker's process. */
export interface QueuedJob {
  request: CreateResponseBody;
  /** The deployments still configured, in the order the create chose. */
  deployments: DeploymentConfig[];
  admission?: AdmissionJob;
  requestId?: string;
  traceParent?: string;
  continuation?: Continuation;
}

/** The deployment group of a response: the model name its first deployment is configured under. */
export function queueGroup(deployment: DeploymentConfig): string {
  return deployment.modelName;
}

/** Every deployment group of a configuration, in configuration order: what a worker claims from. */
export function queueGroups(config: Pick<ResponsesPollingConfig, 'models'>): string[] {
  return [...new Set(config.models.map(queueGroup))];
}

/** The capacity slot of a deployment: the same on every instance with the same configuration, no key in it. */
function capacitySlot(deployment: DeploymentConfig): string {
  return `${deployment.model}@${deployment.apiBase}`;
}

/** What a create enqueues: its group, fairness principal, job and capacity slot. */
export function enqueueInput(
  config: Pick<ResponsesPollingConfig, 'models' | 'worker'>,
  create: QueuedJob & { owner: string },
): QueueEnqueue {
  const first = create.deployments[0];
  const job: JobJson = {
    v: 1,
    request: create.request,
    deployments: create.deployments.map((d) => refOf(config, d)),
  };
  if (create.admission) job.admission = create.admission;
  if (create.requestId) job.requestId = create.requestId;
  if (create.traceParent) job.traceParent = create.traceParent;
  const c = create.continuation;
  if (c) {
    job.continuation = { previousId: c.previousId };
    if (c.held) job.continuation.held = { deployment: refOf(config, c.held.deployment), upstreamId: c.held.upstreamId };
    if (c.expanded) job.continuation.expanded = c.expanded;
  }
  const limit = first.maxParallelRequests ?? 0;
  return {
    group: queueGroup(first),
    principal: create.owner,
    job: JSON.stringify(job),
    slot: limit > 0 ? capacitySlot(first) : '',
    slotLimit: limit,
    maxWaitMs: config.worker.maxQueueMs,
    maxDepth: config.worker.maxQueued,
  };
}

/** Reads a job; `null` when it is malformed or none of its deployments is configured here any more. */
export function readJob(config: Pick<ResponsesPollingConfig, 'models'>, raw: string): QueuedJob | null {
  let value: JobJson;
  try {
    value = JSON.parse(raw) as JobJson;
  } catch {
    return null;
  }
  if (!value || value.v !== 1 || typeof value.request !== 'object' || !Array.isArray(value.deployments)) return null;
  const deployments = value.deployments.flatMap((ref) => deploymentFrom(config, ref) ?? []);
  if (!deployments.length) return null;
  const job: QueuedJob = { request: value.request, deployments };
  if (value.admission && typeof value.admission === 'object') job.admission = value.admission;
  if (typeof value.requestId === 'string') job.requestId = value.requestId;
  if (typeof value.traceParent === 'string') job.traceParent = value.traceParent;
  const c = value.continuation;
  if (c && typeof c.previousId === 'string') {
    const continuation: Continuation = { previousId: c.previousId };
    const holder = c.held ? deploymentFrom(config, c.held.deployment) : undefined;
    // A holder no longer configured: the turn is sent expanded, as when the chain is not held.
    if (holder && c.held) continuation.held = { deployment: holder, upstreamId: c.held.upstreamId };
    if (Array.isArray(c.expanded)) continuation.expanded = c.expanded;
    job.continuation = continuation;
  }
  return job;
}

function refOf(config: Pick<ResponsesPollingConfig, 'models'>, d: DeploymentConfig): JobDeployment {
  return { ...deploymentRef(config, d), model: d.model, upstreamModel: d.upstreamModel };
}

/** The configured deployment `ref` names (its key included), with the names a wildcard match filled in. */
function deploymentFrom(config: Pick<ResponsesPollingConfig, 'models'>, ref: JobDeployment): DeploymentConfig | undefined {
  const configured = deploymentOf(config, ref);
  if (!configured) return undefined;
  return { ...configured, model: String(ref.model ?? configured.model), upstreamModel: String(ref.upstreamModel ?? configured.upstreamModel) };
}
