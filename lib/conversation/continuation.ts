// `previous_response_id`: which earlier turn a create continues, and how each deployment gets it —
// the upstream's own id on the deployment that holds the turn, or the chain expanded inline.

import type { DeploymentConfig, ResponsesPollingConfig } from '../config/options';
import { invalidRequest } from '../errors';
import { deploymentOf, isCopyOf, nativeUrl } from '../middleware/native-background';
import { ownerFilter, type Principal } from '../principal';
import { isTerminalStatus, type NativeDeploymentRef, type OutputItem, type TurnRecord, type TurnUpstream } from '../types';
import { requestUpstream } from '../upstream/client';
import { materialize } from '../worker/materialize';
import { sameDeployment, type Continuation } from './continuation-body';

/** An output item as the input of a later turn on an upstream that never saw it: no id, no status. */
function asInput(item: OutputItem): unknown | undefined {
  // Reasoning is only accepted back with its encrypted content (the upstream cannot look its id up).
  if (item.type === 'reasoning' && typeof item.encrypted_content !== 'string') return undefined;
  const { id: _id, status: _status, ...rest } = item;
  return rest;
}

function inputItemAsInput(item: Record<string, unknown>): unknown {
  const { id: _id, ...rest } = item;
  return rest;
}

/** The answer for an unknown previous turn, and, exactly the same, for someone else's. */
export function previousNotFound(id: string) {
  return invalidRequest(`Previous response with id '${id}' not found.`, 'previous_response_id', 'previous_response_not_found');
}

type Config = Pick<ResponsesPollingConfig, 'store' | 'models' | 'conversation' | 'worker' | 'logger'>;

/**
 * The output of a turn the provider holds (native or pass-through), asked of the provider, and
 * whether it has finished (a native response may still run: its output so far is not the turn's).
 */
async function providerOutput(config: Config, upstream: TurnUpstream): Promise<{ output: OutputItem[] | undefined; done: boolean }> {
  const unknown = { output: undefined, done: true };
  const deployment = deploymentOf(config, upstream.deployment);
  if (!deployment) return unknown;
  const signal = AbortSignal.timeout(config.worker.upstreamIdleTimeoutMs);
  try {
    const answer = await requestUpstream({
      url: nativeUrl(deployment, upstream.id),
      deployment,
      method: 'GET',
      accept: 'application/json',
      signal,
      connectTimeoutMs: config.worker.upstreamConnectTimeoutMs,
    });
    if (!answer.ok) {
      await answer.body?.cancel().catch(() => undefined);
      return unknown;
    }
    const parsed = (await answer.json()) as { output?: unknown; status?: unknown };
    // A provider that names no status is taken at its word that the output is whole.
    const done = typeof parsed.status !== 'string' || isTerminalStatus(parsed.status);
    return { output: done && Array.isArray(parsed.output) ? (parsed.output as OutputItem[]) : undefined, done };
  } catch (err) {
    config.logger.warn('could not read an earlier turn from its provider', { id: upstream.id, error: String(err) });
    return unknown;
  }
}

/** One earlier turn: its record, and its output (a polled turn's from its record here). */
async function turnOf(config: Config, id: string, owner: string | null): Promise<{ turn: TurnRecord; output: OutputItem[] | undefined; done: boolean } | null> {
  const turn = await config.store.readTurn(id, owner);
  if (!turn) return null;
  if (turn.path === 'polling') {
    const stored = await config.store.read(id, owner);
    if (!stored) return null;
    const response = materialize(stored);
    return { turn, output: response.output, done: isTerminalStatus(response.status) };
  }
  if (turn.output || !turn.upstream) return { turn, output: turn.output, done: true };
  return { turn, ...(await providerOutput(config, turn.upstream)) };
}

/**
 * The chain ending at `id`, expanded oldest first (each turn's input items, then its output
 * items), or `undefined` when it is longer than `conversation.maxTurns` / `maxBytes` or a turn's
 * output cannot be had. A turn that is missing (expired, deleted) ends the chain with a 400.
 */
async function expandChain(config: Config, first: { turn: TurnRecord; output: OutputItem[] | undefined }, firstId: string, owner: string | null): Promise<unknown[] | undefined> {
  const { maxTurns, maxBytes } = config.conversation;
  const turns: unknown[][] = [];
  let bytes = 0;
  let current: { turn: TurnRecord; output: OutputItem[] | undefined } | null = first;
  let id = firstId;
  for (;;) {
    if (!current) throw previousNotFound(id);
    if (turns.length >= maxTurns || !current.output) return undefined;
    const items = [
      ...current.turn.inputItems.map(inputItemAsInput),
      ...current.output.map(asInput).filter((item) => item !== undefined),
    ];
    bytes += Buffer.byteLength(JSON.stringify(items));
    if (bytes > maxBytes) return undefined;
    turns.push(items);
    const previous = current.turn.previousResponseId;
    if (!previous) break;
    id = previous;
    current = await turnOf(config, previous, owner);
  }
  return turns.reverse().flat();
}

/**
 * Works out how a create with `previous_response_id` continues it, for `principal`: an id that is
 * unknown, expired or someone else's gets the same 400 (`previous_response_not_found`); one still
 * running gets a 400 too. The deployment that holds the turn (a Responses deployment among
 * `candidates`, asked to store it) gets the upstream's id; any other deployment gets the chain
 * expanded inline, within the `conversation` caps (a 400 when no deployment can take it).
 */
export async function resolveContinuation(config: Config, principal: Principal, previousId: string, candidates: DeploymentConfig[]): Promise<Continuation> {
  const owner = ownerFilter(principal);
  let first = await turnOf(config, previousId, owner);
  let holderRef: { ref: NativeDeploymentRef; upstreamId: string; stored: boolean } | undefined;
  if (first) {
    if (!first.done) {
      // Polled, or native and still running at its provider.
      throw invalidRequest(`Previous response with id '${previousId}' has not finished yet.`, 'previous_response_id', 'previous_response_in_progress');
    }
    const up = first.turn.upstream;
    if (up) holderRef = { ref: up.deployment, upstreamId: up.id, stored: up.stored };
  } else {
    // A provider id remembered before turns were recorded: it can only be continued where it is.
    const native = await config.store.lookupNative(previousId, owner);
    if (!native) throw previousNotFound(previousId);
    holderRef = { ref: native.deployment, upstreamId: previousId, stored: true };
  }
  const continuation: Continuation = { previousId };
  if (holderRef?.stored) {
    const configured = deploymentOf(config, holderRef.ref);
    const holder = configured && candidates.find((d) => d.upstreamApi !== 'chat_completions' && isCopyOf(d, configured));
    if (holder) continuation.held = { deployment: holder, upstreamId: holderRef.upstreamId };
  }
  const others = candidates.some((d) => !continuation.held || !sameDeployment(d, continuation.held.deployment));
  if (others && first) continuation.expanded = await expandChain(config, first, previousId, owner);
  if (!continuation.held && !continuation.expanded) {
    throw invalidRequest(
      `The conversation ending at '${previousId}' cannot be continued here: no deployment holds it, and it is longer than can be sent inline (conversation.maxTurns / maxBytes) or an earlier turn's output is not available.`,
      'previous_response_id',
      'previous_response_not_continuable',
    );
  }
  return continuation;
}
