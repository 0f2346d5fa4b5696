// What a log writer keeps to repair its response's record when the store lost it: a copy of the
// log (bounded), what the store last acknowledged; the re-creation of a lost record and the
// re-sending of entries a store that went back in time (a promoted replica that lagged) lost.

import { isTerminalStatus } from '../response-vocabulary';
import type { AppendInput, Logger, ResponseObject, ResponseStatus, ResponseStore, RestoreOutcome } from '../types';

/** What the `restored` event carries: the worker repaired its record, which the store had lost. */
export interface RestoreInfo {
  /** True when the log went with it whole; false past `recoveryLogBytes` (reads answer `response_data_lost`). */
  wholeLog: boolean;
}

/** Where the writer starts, as far as a repair needs it. */
export interface RecoveryStart {
  id: string;
  /** The owner hash and stream flag of the record, to re-create it with. */
  owner: string;
  stream: boolean;
  fence: number;
  /** The Response as stored when the writer starts, covering the events before `nextSeq`. */
  state: ResponseObject;
  /** The log's entries before `nextSeq`, when known (see WorkerStart.log). */
  log?: string[];
  /** Sequence number of the next event. */
  nextSeq: number;
  /** Retention of the finished response, in seconds. */
  ttlSeconds: number;
}

/** The repairs of one response's record, for its log writer. */
export class RecordRecovery {
  /** The log from sequence 0 while it fits in `recoveryLogBytes`, to repair a lost record whole. */
  private copy: string[] | undefined = [];
  private copyBytes = 0;
  /** What the store last acknowledged: a lost record is re-created as it stood then. */
  private readonly acked: { seq: number; status: ResponseStatus; snapshot: { json: string; seq: number } | undefined };
  private warned = false;

  constructor(
    private readonly start: RecoveryStart,
    private readonly store: ResponseStore,
    private readonly tuning: { recoveryLogBytes: number; leaseMs: number },
    private readonly logger: Logger,
    private readonly restored: (info: RestoreInfo) => void,
  ) {
    this.acked = { seq: start.nextSeq - 1, status: start.state.status, snapshot: undefined };
    // Without the entries before nextSeq the copy could not open the log: none is kept.
    if (start.log?.length === start.nextSeq) this.keep(start.log);
    else this.copy = undefined;
  }

  /** Keeps `entries` in the copy of the log, or drops the copy once it outgrows `recoveryLogBytes`. */
  keep(entries: readonly string[]): void {
    for (const entry of entries) this.keepOne(entry);
  }

  /** Keeps one entry (the writer's, per event: no array per call). */
  keepOne(entry: string): void {
    if (this.copy === undefined) return;
    this.copyBytes += entry.length;
    if (this.copyBytes > this.tuning.recoveryLogBytes) this.copy = undefined;
    else this.copy.push(entry);
  }

  /** The store took `input`. */
  acknowledged(input: AppendInput): void {
    if (input.events.length) this.acked.seq = Math.max(this.acked.seq, input.firstSeq + input.events.length - 1);
    if (input.status) this.acked.status = input.status;
    if (input.snapshot) this.acked.snapshot = input.snapshot;
  }

  /**
   * After an append answered `gone`: writes the record again as the store last acknowledged it,
   * unless a record exists or a delete's tombstone says it was deleted.
   */
  async restore(): Promise<RestoreOutcome> {
    const { id, owner, stream, fence, ttlSeconds } = this.start;
    const { seq, status } = this.acked;
    const snapshot = this.acked.snapshot ?? { json: JSON.stringify(this.start.state), seq: this.start.nextSeq - 1 };
    // The copy holds every entry written, acknowledged or not: the record gets the acknowledged ones.
    const events = this.copy?.slice(0, seq + 1) ?? [];
    const wholeLog = events.length === seq + 1;
    const outcome = await this.store.restore(id, {
      owner,
      stream,
      fence,
      status,
      snapshot: snapshot.json,
      snapshotSeq: snapshot.seq,
      lastSeq: seq,
      events: wholeLog ? events : [],
      leaseMs: this.tuning.leaseMs,
      ttlSeconds,
    });
    if (outcome === 'restored') this.report('the store lost the record of a running response; re-created it from the worker', wholeLog);
    return outcome;
  }

  /**
   * After an append of `input` was refused as `fenced`: when the record is still this worker's
   * (same fence, not terminal) but its log ends before `input` (the store lost entries it had
   * acknowledged: a replica promoted before it had them), the append that also carries the
   * missing entries from the copy. Undefined when it really was fenced, or the copy is gone.
   */
  async catchUp(input: AppendInput): Promise<AppendInput | undefined> {
    const copy = this.copy;
    if (copy === undefined || copy.length < input.firstSeq) return undefined;
    let page;
    try {
      page = await this.store.readEvents(this.start.id, null, Number.MAX_SAFE_INTEGER, { limit: 1 });
    } catch {
      return undefined;
    }
    const meta = page?.meta;
    if (!meta || meta.fence !== this.start.fence || isTerminalStatus(meta.status) || meta.lastSeq >= input.firstSeq - 1) return undefined;
    this.report('the store lost the end of a running response\'s log; sent it again from the worker', true);
    return {
      ...input,
      firstSeq: meta.lastSeq + 1,
      events: [...copy.slice(meta.lastSeq + 1, input.firstSeq), ...input.events],
      // The store's status may be behind too (still queued): the one last acknowledged.
      status: input.status ?? this.acked.status,
    };
  }

  private report(message: string, wholeLog: boolean): void {
    if (!this.warned) {
      this.warned = true;
      this.logger.warn(message, { id: this.start.id, lastSeq: this.acked.seq, wholeLog });
    }
    this.restored({ wholeLog });
  }
}
