// Recording turns: at each create, what the next turn will need (input items, instructions, the
// turn before); once known, where the upstream holds it; for pass-through, its provider id too.

import type { DeploymentConfig, ResponsesPollingConfig } from '../config/options';
import type { CreateResponseBody } from '../middleware/create-request';
import { deploymentRef, nativeRetentionSeconds } from '../middleware/native-background';
import type { OutputItem, TurnRecord } from '../types';
import { toInputItems } from './input-items';
import { scrubKey } from '../upstream/scrub';
import type { StreamingWorker } from '../worker/streaming-worker';

type Config = Pick<ResponsesPollingConfig, 'store' | 'models' | 'backgroundMode' | 'logger'>;

/**
 * How long a polled response's turn is kept while it runs: as its record, its retention plus a
 * lease, renewed while its worker renews the lease; when the worker ends, the retention from then.
 */
export function runningTurnSeconds(config: Pick<ResponsesPollingConfig, 'backgroundMode' | 'worker'>): number {
  return config.backgroundMode.ttl + config.worker.leaseMs / 1000;
}

/**
 * Keeps the turn of the response `worker` runs as long as its record: renewed with the worker's
 * lease (at most every quarter lease), then, when the worker ends, kept for the retention from
 * then, with where the upstream holds it (a Responses deployment that named its own id).
 */
export function followTurn(config: Config & Pick<ResponsesPollingConfig, 'worker'>, worker: StreamingWorker, stored: boolean): void {
  const { store, logger, worker: tuning, backgroundMode } = config;
  const keep = (ttlSeconds: number) =>
    store.keepTurn(worker.id, ttlSeconds).catch((err: unknown) => logger.warn('could not keep the turn of a response', { id: worker.id, error: String(err) }));
  let keptAt = Date.now();
  const onRenewed = () => {
    if (Date.now() - keptAt < tuning.leaseMs / 4) return;
    keptAt = Date.now();
    void keep(runningTurnSeconds(config));
  };
  worker.on('renewed', onRenewed);
  worker.once('done', () => {
    worker.off('renewed', onRenewed);
    const upstreamId = worker.upstreamId;
    if (upstreamId !== undefined) void recordUpstream(config, worker.id, worker.deployment, upstreamId, stored, backgroundMode.ttl);
    else void keep(backgroundMode.ttl);
  });
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
  if (deployment.upstreamApi === 'chat_completions') {
    await config.store.keepTurn(id, ttlSeconds).catch(() => undefined);
    return;
  }
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
