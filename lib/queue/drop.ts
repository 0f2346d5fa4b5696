// A response cancelled or deleted while queued leaves the queue at once, and its admission (its
// key's parallel slot) is given back then, not when a claim would have reached it.

import type { ResponsesPollingConfig } from '../config/options';
import { findDeployments } from '../config/routing';
import { Admission } from '../limiter/admission';
import { queueGroup, readJob } from './job';
import type { ResponseMeta } from '../types';

/**
 * Whether a response that just ended may still be waiting in its queue: a create writes fence 1
 * and the worker that takes it from the queue raises it (`startQueued`), so a higher fence means
 * it left the queue long ago and {@link dropQueued} would be a round trip for nothing.
 */
export function mayStillBeQueued(meta: Pick<ResponseMeta, 'fence'>): boolean {
  return meta.fence <= 1;
}

/**
 * Takes response `id` (of model `model`) out of its deployment group's queue if it is still
 * waiting there, and settles its admission once. Nothing when it is claimed or not queued: the
 * claim that holds it settles it. Never rejects: a failure is logged, and the claim that later
 * reaches the entry gives the admission back instead.
 */
export async function dropQueued(config: Pick<ResponsesPollingConfig, 'models' | 'store' | 'limiter' | 'logger'>, id: string, model: string): Promise<void> {
  const first = findDeployments(config.models, model)[0];
  if (!first) return;
  try {
    const raw = await config.store.dropQueued(queueGroup(first), id);
    const job = raw === null ? null : readJob(config, raw);
    if (job?.admission) await Admission.fromJob(config.limiter, config.logger, job.admission).settle(id, null);
  } catch (err) {
    config.logger.warn('could not take a cancelled or deleted response out of the queue; its claim will', { id, error: String(err) });
  }
}
