// Recording turns: at each create, what the next turn will need (input items, instructions, the
// turn before); once known, where the upstream holds it; for pass-through, its provider id too.

import type { DeploymentConfig, ResponsesPollingConfig } from '../config/options';
import type { CreateResponseBody } from '../middleware/create-request';
import { deploymentRef, nativeRetentionSeconds } from '../middleware/native-background';
import type { OutputItem, TurnRecord } from '../types';
import { toInputItems } from './input-items';
import { scrubKey } from '../upstream/scrub';

type Config = Pick<ResponsesPollingConfig, 'store' | 'models' | 'backgroundMode' | 'logger'>;

/**
 * How long a polled response's turn is kept while it runs: its retention plus a day, so it outlives
 * any run; when the worker ends, both are set to the retention from then (as the record's is).
 */
export function runningTurnSeconds(config: Pick<ResponsesPollingConfig, 'backgroundMode'>): number {
  return config.backgroundMode.ttl + 86_400;
}

/** The turn record of a create: its input items (with ids), instructions and the turn it continues. */
export function turnOfRequest(owner: string, path: TurnRecord['path'], body: CreateResponseBody): TurnRecord {
  return {
    owner,
    path,
    previousResponseId: typeof body.previous_response_id === 'string' ? body.previous_response_id : null,
    instructions: body.instructions ?? null,
    inputItems: toInputItems(body.input),
  };
}

/** Records that `deployment` holds turn `id` as `upstreamId` (a Responses deployment only). */
export async function recordUpstream(
  config: Config,
  id: string,
  deployment: DeploymentConfig,
  upstreamId: string,
  stored: boolean,
  ttlSeconds: number,
): Promise<void> {
  if (deployment.upstreamApi === 'chat_completions') return;
  try {
    await config.store.setTurnUpstream(id, { id: upstreamId, deployment: deploymentRef(config, deployment), stored }, ttlSeconds);
  } catch (err) {
    // The next turn then expands this one inline instead of naming it upstream.
    config.logger.warn('could not record where the upstream holds a response', { id, error: String(err) });
  }
}

/**
 * Remembers a pass-through response the provider answered (`response`, with the provider's id):
 * its owner and deployment, so GET, DELETE and input_items reach that deployment, and its turn,
 * so it can be continued. Failures are logged: the client has its answer either way.
 */
export async function rememberPassThrough(
  config: Config,
  owner: string,
  body: CreateResponseBody,
  deployment: DeploymentConfig,
  response: { id?: unknown; output?: unknown },
): Promise<void> {
  const id = response.id;
  if (typeof id !== 'string' || id === '') return;
  // What the provider sent may echo its key: none of it is stored.
  const output = scrubKey(response.output, deployment.apiKey);
  const ttl = nativeRetentionSeconds(config);
  const turn: TurnRecord = { ...turnOfRequest(owner, 'pass_through', body) };
  if (Array.isArray(output)) turn.output = output as OutputItem[];
  const ref = deploymentRef(config, deployment);
  if (deployment.upstreamApi !== 'chat_completions') turn.upstream = { id, deployment: ref, stored: body.store !== false };
  try {
    await Promise.all([
      deployment.upstreamApi === 'chat_completions'
        ? undefined
        : config.store.rememberNative(id, { owner, path: 'pass_through', deployment: ref, model: body.model, createdAt: Date.now() }, ttl),
      config.store.saveTurn(id, turn, ttl),
    ]);
  } catch (err) {
    config.logger.warn('could not remember a pass-through response', { id, error: String(err) });
  }
}
