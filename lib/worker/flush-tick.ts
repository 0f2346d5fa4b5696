// The flush tick the log writers of a process share: one timer per flush window, the writers
// it finds waiting flushed in bounded slices with the event loop turning between them.

/**
 * Most writers one slice of a flush tick flushes before the event loop turns: a tick of a thousand
 * streams would otherwise encode and send every append in one block, holding up polls and timers
 * for tens of ms. A slice's appends still leave in one socket write (node-redis writes what was
 * queued in a `setImmediate`, which runs before the next slice's).
 */
export const FLUSH_SLICE_WRITERS = 64;

/**
 * One timer per flush window for all the workers of the process: those with events waiting flush
 * when it fires, in slices of {@link FLUSH_SLICE_WRITERS} with I/O between them, so their appends
 * leave in a few socket writes, and a thousand streams cost one timer instead of a thousand. An
 * event waits at most one window plus the slices before its own.
 */
export class FlushTick {
  private readonly waiting = new Set<() => void>();
  /** Writers of the tick that fired, not yet flushed (a writer that flushed or closed meanwhile leaves it). */
  private readonly firing = new Set<() => void>();
  private timer: NodeJS.Timeout | undefined;
  private slice: NodeJS.Immediate | undefined;
  constructor(private readonly ms: number) {}

  add(flush: () => void): void {
    this.waiting.add(flush);
    this.timer ??= setTimeout(() => this.fire(), this.ms);
  }

  delete(flush: () => void): void {
    this.waiting.delete(flush);
    this.firing.delete(flush);
    if (this.waiting.size === 0 && this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  private fire(): void {
    this.timer = undefined;
    for (const flush of this.waiting) this.firing.add(flush);
    this.waiting.clear();
    if (!this.slice) this.runSlice();
  }

  private runSlice(): void {
    this.slice = undefined;
    let n = 0;
    for (const flush of this.firing) {
      if (n++ === FLUSH_SLICE_WRITERS) break;
      // Each flush deletes itself from the tick first (LogWriter.requestFlush).
      this.firing.delete(flush);
      flush();
    }
    if (this.firing.size > 0) this.slice = setImmediate(() => this.runSlice());
  }
}

const flushTicks = new Map<number, FlushTick>();

/** The process's flush tick for windows of `ms`. */
export function flushTick(ms: number): FlushTick {
  let tick = flushTicks.get(ms);
  if (!tick) flushTicks.set(ms, (tick = new FlushTick(ms)));
  return tick;
}
