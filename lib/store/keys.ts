// The only place that builds Redis key names and channels. Every key of one response shares
// the hash tag `{<id>}`, so each script touches one Redis Cluster slot.

/** The keys of one response. */
export interface ResponseKeys {
  /** Hash: status, owner, lastSeq, fence, lease, snapshot sequence, stream flag, error. */
  meta: string;
  /** String: JSON snapshot of the Response. */
  snapshot: string;
  /** List: encoded events, index = sequence number. */
  log: string;
  /**
   * List: item-id notes of the log (see `itemIdNotes`), so a reader starting mid-log need not read
   * the log from its start. Absent while no entry names an output item.
   */
  ids: string;
}

/** Keys of response `id` under `prefix` (for example `rp:`). */
export function responseKeys(prefix: string, id: string): ResponseKeys {
  const base = `${prefix}{${id}}:`;
  return { meta: `${base}meta`, snapshot: `${base}snap`, log: `${base}log`, ids: `${base}ids` };
}

/**
 * The tombstone a delete leaves for response `id` (String), as long as the record would have
 * lived: a worker whose append finds the record missing tells a delete (stop) from a loss
 * (re-create it). Same hash tag as {@link responseKeys}.
 */
export function tombstoneKey(prefix: string, id: string): string {
  return `${prefix}{${id}}:deleted`;
}

/**
 * The key of a provider's own background response `id` (String: JSON of NativeResponseRecord).
 * It carries the same hash tag as the keys of a response with that id.
 */
export function nativeKey(prefix: string, id: string): string {
  return `${prefix}{${id}}:native`;
}

/** Marks a native response `id` as seen finished (String, `SET NX`); same hash tag as {@link nativeKey}. */
export function nativeEndKey(prefix: string, id: string): string {
  return `${prefix}{${id}}:native-end`;
}

/** What the next turn needs of response `id` (String: JSON of TurnRecord); same hash tag as the response. */
export function turnKey(prefix: string, id: string): string {
  return `${prefix}{${id}}:turn`;
}

/** Where the upstream holds turn `id` (String: JSON of TurnUpstream); same hash tag as {@link turnKey}. */
export function turnUpstreamKey(prefix: string, id: string): string {
  return `${prefix}{${id}}:turn-up`;
}

/** Sorted set: native response ids → epoch ms when the reconciler next asks their provider about them. */
export function nativeScheduleKey(prefix: string): string {
  return `${prefix}native-schedule`;
}

/** A named lease (String: its holder), such as the native reconciler's. */
export function leaseKey(prefix: string, name: string): string {
  return `${prefix}lease:${name}`;
}

/** The pub/sub channel carrying control messages (cancel, delete) between instances. */
export function controlChannel(prefix: string): string {
  return `${prefix}control`;
}

/** The keys of one deployment group's queue; all share the hash tag `{q:<group>}` (one slot per group). */
export interface QueueKeys {
  /** Prefix of the per-principal lists (`<base>p:<principal>`) and slot sets (`<base>s:<slot>`), built in the scripts. */
  base: string;
  /** List: principals with waiting responses, in claim order. */
  ring: string;
  /** Hash: response id → JSON of its entry (principal, job, slot, attempts, started). */
  jobs: string;
  /** Sorted set: claimed response id → lease expiry (epoch ms). */
  running: string;
  /** Hash: principal → epoch ms until which claims skip it (a response waiting for its key's slot). */
  deferred: string;
}

/** Keys of the queue of deployment group `group` under `prefix`. Braces in the name cannot end the hash tag early. */
export function queueKeys(prefix: string, group: string): QueueKeys {
  const base = `${prefix}{q:${group.replace(/[{}%]/g, (c) => encodeURIComponent(c))}}:`;
  return { base, ring: `${base}ring`, jobs: `${base}jobs`, running: `${base}running`, deferred: `${base}deferred` };
}

/** The hash tag of the one webhook queue on a single Redis node. */
export const SINGLE_WEBHOOK_QUEUE = 'webhooks';

/**
 * A webhook delivery queue (sorted set) and its dropped-event counter (string), under hash tag
 * `tag`: {@link SINGLE_WEBHOOK_QUEUE} on one node; on a Redis Cluster, one queue per slot, whose
 * tag hashes to the slot of the responses it serves (see cluster-slots.ts), so a terminal script
 * writes its response and its queue in one slot.
 */
export function webhookQueueKeys(prefix: string, tag: string = SINGLE_WEBHOOK_QUEUE): { queue: string; dropped: string } {
  return { queue: `${prefix}{${tag}}:queue`, dropped: `${prefix}{${tag}}:dropped` };
}

/** The delivery hash of webhook event `eventId`, in the queue of tag `tag` (see {@link webhookQueueKeys}). */
export function webhookEventKey(prefix: string, eventId: string, tag: string = SINGLE_WEBHOOK_QUEUE): string {
  return `${prefix}{${tag}}:event:${eventId}`;
}

/** Set (Redis Cluster only): the tags of webhook queues that may hold deliveries. */
export function webhookActiveKey(prefix: string): string {
  return `${prefix}{webhooks}:active`;
}
