// Public types: the Response shapes this package handles and the store contract.

import type { ResponseStatus } from './response-vocabulary';
import type { NativeResponseRecord, TurnRecord, TurnUpstream } from './side-record-types';
import type { ResponseErrorObject } from './response-types';

export { TERMINAL_STATUSES, isTerminalStatus, type ResponseStatus } from './response-vocabulary';

export type { OutputItem, ResponseErrorObject, ResponseObject, ResponseStreamEvent } from './response-types';

/**
 * What the store keeps about a response beside its content. Never holds a secret: the owner
 * is a one-way hash of the principal id.
 */
export interface ResponseMeta {
  /** The authoritative status; overrides the status folded from snapshot and log. */
  status: ResponseStatus;
  /** Hash of the principal that created the response (see `ownerHash`). */
  owner: string;
  /** Sequence number of the last event in the log; -1 when the log is empty. */
  lastSeq: number;
  /** Fencing token of the worker that may write; a write with another token is refused. */
  fence: number;
  /** Epoch milliseconds at which the worker's lease runs out; 0 once terminal. */
  leaseExpiresAt: number;
  /** Whether the response was created with `stream: true` (only those may be resumed). */
  stream: boolean;
  /**
   * An error set by the store itself (lease lapsed: `worker_lost`), JSON of
   * {@link ResponseErrorObject}; overrides the folded `error` when present.
   */
  error: ResponseErrorObject | null;
}

/** A response as read from a store: the snapshot plus the log tail folded on read. */
export interface StoredResponse {
  meta: ResponseMeta;
  /** JSON of the Response object after folding every event up to `snapshotSeq`. */
  snapshot: string;
  /** Sequence number of the last event included in `snapshot` (-1 for none). */
  snapshotSeq: number;
  /** Encoded events with a sequence number above `snapshotSeq`, in order. */
  tail: string[];
  /**
   * True only in the answer of the one read that marked this response `failed` (`worker_lost`)
   * because its lease had lapsed; absent otherwise. Lets that reader report the transition once.
   */
  leaseSwept?: true;
}

/** How much {@link ResponseStore.readEvents} returns. */
export interface ReadEventsOptions {
  /** At most this many entries (a page). Default: every entry after the cursor. */
  limit?: number;
  /**
   * Fewer entries when they would exceed about this many bytes together; the first entry is
   * returned whatever its size. Default: no such bound.
   */
  maxBytes?: number;
  /**
   * Entries that reach the end of the log (at most `limit` of them) are returned together when
   * they add up to at most this many bytes, whatever `maxBytes` says: a resume near the end takes
   * its short tail in one read. Below `maxBytes` it changes nothing. Default: no such allowance.
   */
  tailBytes?: number;
  /** Also return the item-id notes of the log ({@link EventsPage.itemIds}). Default false. */
  itemIds?: boolean;
}

/** What {@link ResponseStore.readEvents} returns: a page of the log, read in one step with the meta. */
export interface EventsPage {
  meta: ResponseMeta;
  /** Encoded events after the cursor, in order, at most `limit` of them. */
  events: string[];
  /** See {@link StoredResponse.leaseSwept}. */
  leaseSwept?: true;
  /**
   * With `itemIds`: every item-id note of the log, in log order (see `itemIdNotes` in
   * event-codec.ts), from which a reader starting mid-log rebuilds the ids the log leaves out.
   */
  itemIds?: string[];
}

/** Arguments of {@link ResponseStore.create}. */
export interface CreateRecordInput {
  id: string;
  /** Owner hash, see {@link ResponseMeta.owner}. */
  owner: string;
  /** JSON of the initial (queued) Response. It is the snapshot at sequence `events.length - 1`. */
  snapshot: string;
  /** The initial encoded events (for example `response.created`), numbered from 0. */
  events: string[];
  stream: boolean;
  /** Lease length in milliseconds: how long the record lives without a heartbeat. */
  leaseMs: number;
  /** Retention in seconds once terminal. */
  ttlSeconds: number;
  /**
   * Enqueues the response in the same step (see {@link QueueEnqueue}). A queued record is never
   * swept for its lease while it waits or is claimed and not started: it is claimed again instead.
   */
  queue?: QueueEnqueue;
  /**
   * The response's turn record (see {@link ResponseStore.saveTurn}), kept for `ttlSeconds`. A store
   * that writes it in the same step as the record (nothing when the create is refused) answers
   * `turnSaved: true`; the caller saves it with `saveTurn` itself after a create that does not
   * (a store written before this field ignores it and keeps working).
   */
  turn?: { record: TurnRecord; ttlSeconds: number };
}

/** What {@link ResponseStore.create} answers. */
export interface CreatedRecord {
  /** The fence of the new record: 1. */
  fence: number;
  /** True when the store wrote `turn` of the input with the record. */
  turnSaved?: boolean;
}

/** How a created response enters the queue of its deployment group. */
export interface QueueEnqueue {
  /** The deployment group (a model name): FIFO within it, one Redis Cluster slot per group. */
  group: string;
  /** Who the response belongs to (the owner hash): claims go round-robin over principals. */
  principal: string;
  /** What a worker needs to run the response (JSON, no secret); handed back by `claim`. */
  job: string;
  /** The capacity slot the response takes while it runs (a deployment), or `''` for none. */
  slot: string;
  /** How many responses of `slot` may run at once across every instance; 0: no cap. */
  slotLimit: number;
  /** Longest wait before a claim, in ms; a read after it ends the response `failed`. 0: no limit. */
  maxWaitMs: number;
  /**
   * Most responses in the group's queue (waiting or claimed); a create beyond it rejects with
   * `QueueFullError` and stores nothing. 0 or absent: no bound.
   */
  maxDepth?: number;
}

/** A response a worker claimed from the queue (see {@link ResponseStore.claim}). */
export interface QueueClaim {
  id: string;
  /** The `job` given at enqueue. */
  job: string;
  /** Claims of this response whose worker died before it started, before this one. */
  attempts: number;
  /** Epoch ms at which it was enqueued. */
  enqueuedAt: number;
}

/** The answer of {@link ResponseStore.claim}. */
export interface ClaimResult {
  /** The claimed response; `null` when nothing is waiting (or every waiting one lacks capacity). */
  claim: QueueClaim | null;
  /** Ids whose claims lapsed `maxAttempts` times: the caller ends them with `failQueued`. */
  exhausted: string[];
  /** Ids whose lapsed claims went back to the queue by this call. */
  requeued: string[];
}

/** The answer of {@link ResponseStore.startQueued}. */
export type StartQueuedOutcome =
  | { outcome: 'claimed'; fence: number; response: StoredResponse }
  /**
   * Its longest wait in the queue had run out and this call ended it `failed`: the caller (and
   * nobody else) reports that end. `response` is the record as it ended. Drop the claim.
   */
  | { outcome: 'expired'; response: StoredResponse }
  /** Cancelled, already terminal, already started by another claim, or gone: drop the claim. */
  | { outcome: 'cancelled' | 'terminal' | 'started' | 'gone' };

/** Arguments of {@link ResponseStore.append}: one flush of a worker. */
export interface AppendInput {
  /** The fencing token returned by `create`. */
  fence: number;
  /** Sequence number of `events[0]`; must be `lastSeq + 1` (or already applied: then a no-op). */
  firstSeq: number;
  /** Encoded events, consecutive from `firstSeq`. May be empty (a heartbeat). */
  events: string[];
  /** A new snapshot, when the worker decides to rewrite it. `seq` is at most the last event's. */
  snapshot?: { json: string; seq: number };
  /** New status to record (`in_progress`, or a terminal one to finish the response). */
  status?: ResponseStatus;
  leaseMs: number;
  ttlSeconds: number;
}

/**
 * Result of an append:
 * - `ok`: written (or already written by an earlier attempt of the same flush);
 * - `cancelled`: the response was cancelled; nothing written, the worker must stop;
 * - `terminal`: the response is already terminal for another reason (lease lapsed); stop;
 * - `gone`: missing (deleted, expired, or lost by the store): the worker calls `restore`, which tells them apart;
 * - `fenced`: another worker holds the lease, or the sequence does not follow; stop.
 */
export type AppendOutcome = 'ok' | 'cancelled' | 'terminal' | 'gone' | 'fenced';

/**
 * Arguments of {@link ResponseStore.restore}: a running response's record as its worker last had it
 * acknowledged, to write again when the store lost it (Redis restarted empty, or its keys were removed).
 */
export interface RestoreInput {
  /** The owner hash the record had. */
  owner: string;
  /** The stream flag the record had (`stream: true` on create). */
  stream: boolean;
  /** The worker's fencing token: the restored record is fenced to it, as the lost one was. */
  fence: number;
  /** The status the store last acknowledged (never terminal: a worker that wrote one has stopped). */
  status: ResponseStatus;
  /** Snapshot JSON, covering the events up to `snapshotSeq`. */
  snapshot: string;
  snapshotSeq: number;
  /** Sequence number of the last event the store acknowledged. */
  lastSeq: number;
  /**
   * The log from sequence 0, `lastSeq + 1` entries; or none, when the worker no longer holds it
   * (past `worker.recoveryLogBytes`): reads of the restored record then answer `response_data_lost`.
   */
  events: string[];
  leaseMs: number;
  ttlSeconds: number;
}

/**
 * Result of a restore: `restored` (written, lease renewed), `exists` (a record is there: nothing
 * written, the worker appends as before), `deleted` (a delete's tombstone is there: the worker stops).
 */
export type RestoreOutcome = 'restored' | 'exists' | 'deleted';

/**
 * Result of {@link ResponseStore.delete}. `ended` is the record as it stood when the delete removed
 * it, present only when it was not terminal then: that delete ended the response, and its caller
 * (and nobody else, on any instance) reports the end as `deleted`.
 */
export type DeleteResult = { deleted: false } | { deleted: true; ended?: StoredResponse };

/** Result of {@link ResponseStore.cancel}. */
export type CancelOutcome =
  | { outcome: 'cancelled'; response: StoredResponse }
  | { outcome: 'already_cancelled'; response: StoredResponse }
  | { outcome: 'terminal'; response: StoredResponse }
  | { outcome: 'not_found' };

export type { InputItem, NativeDeploymentRef, NativeResponseRecord, TurnRecord, TurnUpstream } from './side-record-types';

/** A control message between instances about one response. */
export interface ControlMessage {
  id: string;
  action: 'cancel' | 'delete';
}

/**
 * The store contract. A response is an append-only event log plus a snapshot; every state
 * transition is one atomic step. `owner` arguments: a hash to check (a mismatch behaves as
 * if the id did not exist), or `null` for an administrator.
 */
export interface ResponseStore {
  /**
   * Creates a record; rejects with `StoreConflictError` when the id exists or its create was
   * abandoned (see `delete`). Returns the fence: 1, which `startQueued` raises (a fence above 1
   * tells that the response has left its queue), and whether it wrote `input.turn`.
   */
  create(input: CreateRecordInput): Promise<CreatedRecord>;
  /**
   * Reads snapshot, tail and meta in one step. A non-terminal response whose lease has lapsed is
   * marked `failed` (`worker_lost`) by this read, atomically, and returned as such.
   */
  read(id: string, owner: string | null): Promise<StoredResponse | null>;
  /**
   * Encoded events with sequence number above `afterSeq`, with the current meta. Sweeps a lapsed
   * lease as `read` does, with the same `leaseSwept` flag.
   */
  readEvents(id: string, owner: string | null, afterSeq: number, options?: ReadEventsOptions): Promise<EventsPage | null>;
  /** One flush of the worker; see {@link AppendOutcome}. */
  append(id: string, input: AppendInput): Promise<AppendOutcome>;
  /**
   * Writes the record of a running response again after an append answered `gone`, unless a
   * record exists or a delete left its tombstone (kept as long as the deleted record would have
   * lived): a deleted response stays deleted, a lost one is re-created by its worker.
   */
  restore(id: string, input: RestoreInput): Promise<RestoreOutcome>;
  /** Cancels a non-terminal response and publishes a `cancel` control message. */
  cancel(id: string, owner: string | null, ttlSeconds: number): Promise<CancelOutcome>;
  /**
   * Deletes every key of a response, leaves its tombstone (see `restore`) and publishes a `delete`
   * control message. The answer says whether this call ended a response that was not terminal
   * yet (see {@link DeleteResult}). With `tombstoneMs`, an administrator's delete (`owner` null)
   * of an id with no record leaves a tombstone that long, so a create of that id that reaches
   * the store later is refused (see `create`): how a create whose outcome is unknown is abandoned.
   */
  delete(id: string, owner: string | null, options?: { tombstoneMs?: number }): Promise<DeleteResult>;
  /**
   * Remembers a provider's own background response `id` for `ttlSeconds` (replacing an earlier
   * record of the same id). Not a response record: `read`, `cancel` and `delete` ignore it.
   */
  rememberNative(id: string, record: NativeResponseRecord, ttlSeconds: number): Promise<void>;
  /** The record of native response `id`; `null` when unknown, expired, or owned by someone else. */
  lookupNative(id: string, owner: string | null): Promise<NativeResponseRecord | null>;
  /** Forgets native response `id`. `true` when a record was removed. */
  forgetNative(id: string): Promise<boolean>;
  /**
   * Marks native response `id` as seen finished, for `ttlSeconds`. `true` for the first caller
   * only, across every instance (atomic), so its end is reported and accounted exactly once.
   */
  claimNativeEnd(id: string, ttlSeconds: number): Promise<boolean>;
  /**
   * Claims the next waiting response of `group` under a lease of `leaseMs`: round-robin over the
   * principals with waiting responses, FIFO within one, skipping those whose slot is full. First
   * puts back lapsed claims of responses that never started (or reports them `exhausted` after
   * `maxAttempts` claims) and drops lapsed claims of started ones.
   */
  claim(group: string, opts: { leaseMs: number; maxAttempts: number }): Promise<ClaimResult>;
  /** Extends a claim's lease (and its capacity slot); `false` when the claim was lost. */
  renewClaim(group: string, id: string, leaseMs: number): Promise<boolean>;
  /** Marks a claim started (its upstream sent an event): a lapse no longer puts it back. */
  markClaimStarted(group: string, id: string): Promise<void>;
  /** Ends a claim: its slot is free and the job is forgotten. */
  releaseClaim(group: string, id: string): Promise<void>;
  /**
   * Puts a claimed, not started response back at the head of its principal's queue at once. With
   * `deferMs`, claims of `group` skip that principal for so long: its response waits for what only
   * time or another response's end brings (its key's parallel slot), and others' work goes first.
   */
  handBack(group: string, id: string, opts?: { deferMs?: number }): Promise<void>;
  /**
   * Removes a waiting (not claimed) entry of `group` at once and returns its job: a response
   * cancelled or deleted while queued leaves the queue, and the caller gives back its admission.
   * `null` when it is not waiting there (claimed, already gone, or never queued).
   */
  dropQueued(group: string, id: string): Promise<string | null>;
  /** Responses of `group` waiting for a claim. */
  queueDepth(group: string): Promise<number>;
  /**
   * Takes a claimed response's record: when still `queued`, the fence goes up by one and a lease is
   * set (an earlier claimant's writes are refused from now on) and the record is returned.
   */
  startQueued(id: string, leaseMs: number): Promise<StartQueuedOutcome>;
  /** Ends a `queued` response `failed` with `error`; `true` only for the call that did it. */
  failQueued(id: string, error: ResponseErrorObject, ttlSeconds: number): Promise<boolean>;
  /** Schedules native response `id` for the reconciler at `dueAt` (epoch ms), replacing an earlier time. */
  scheduleNative(id: string, dueAt: number): Promise<void>;
  /** Native ids due for the reconciler at `now`, earliest first, at most `limit`. */
  dueNatives(now: number, limit: number): Promise<string[]>;
  /** Takes native `id` off the reconciler's schedule. */
  unscheduleNative(id: string): Promise<void>;
  /**
   * Takes or renews the lease `name` for `holder` for `ttlMs`; `true` while `holder` holds it. A
   * lease makes concurrent holders rare, not impossible: what it guards must be idempotent.
   */
  holdLease(name: string, holder: string, ttlMs: number): Promise<boolean>;
  /**
   * Keeps what the next turn needs of response `id` (replacing an earlier record of the id) for
   * `ttlSeconds`. Not a response record: `read`, `cancel` and `delete` ignore it.
   */
  saveTurn(id: string, turn: TurnRecord, ttlSeconds: number): Promise<void>;
  /** Records where the upstream holds turn `id`, kept for `ttlSeconds`. */
  setTurnUpstream(id: string, upstream: TurnUpstream, ttlSeconds: number): Promise<void>;
  /** Keeps the turn record of `id` (and its upstream) for `ttlSeconds` from now, as its response's record is kept. */
  keepTurn(id: string, ttlSeconds: number): Promise<void>;
  /** The turn record of `id` with its upstream; `null` when unknown, expired, or owned by someone else. */
  readTurn(id: string, owner: string | null): Promise<TurnRecord | null>;
  /** Forgets the turn record of `id`. */
  forgetTurn(id: string): Promise<void>;
  /** Listens to control messages from every instance. Resolves to an unsubscribe function. */
  subscribe(listener: (message: ControlMessage) => void): Promise<() => Promise<void>>;
  /** Resolves when the store answers; rejects otherwise. */
  ping(): Promise<void>;
  /** Releases connections and timers. */
  close(): Promise<void>;
}

/** A logger; the package logs nothing through `console` itself. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}
