// The flush tick the log writers of a process share: when it fires, the writers waiting are
// flushed in slices of at most FLUSH_SLICE_WRITERS with the event loop turning between them,
// each once, and a writer that left the tick meanwhile (flushed or closed) is not called.

import { FLUSH_SLICE_WRITERS, FlushTick } from '../../lib/worker/flush-tick';

/** Writers that delete themselves from `tick` when flushed (as LogWriter does), grouping the calls by event-loop turn. */
function writers(tick: FlushTick, n: number) {
  const slices: number[][] = [];
  let open = false;
  const calls: number[] = [];
  const list = Array.from({ length: n }, (_, i) => {
    const flush = (): void => {
      tick.delete(flush);
      calls.push(i);
      if (!open) {
        open = true;
        slices.push([]);
        // Runs once the current macrotask is done: the next call is in another slice.
        queueMicrotask(() => (open = false));
      }
      slices[slices.length - 1]!.push(i);
    };
    return flush;
  });
  return { list, slices, calls };
}

const ticked = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

test('a tick of many writers flushes them in slices of at most FLUSH_SLICE_WRITERS, each once, in the order they waited', async () => {
  const tick = new FlushTick(20);
  const n = FLUSH_SLICE_WRITERS * 3 + 7;
  const w = writers(tick, n);
  for (const flush of w.list) tick.add(flush);
  // Added again before the tick fires: still one flush.
  for (const flush of w.list.slice(0, 10)) tick.add(flush);
  await ticked(100);
  expect(w.slices.map((s) => s.length)).toEqual([FLUSH_SLICE_WRITERS, FLUSH_SLICE_WRITERS, FLUSH_SLICE_WRITERS, 7]);
  expect(w.calls).toEqual(Array.from({ length: n }, (_, i) => i));
});

test('a writer that leaves the tick while its slice waits (it flushed on its own, or closed) is not called', async () => {
  const tick = new FlushTick(20);
  const w = writers(tick, FLUSH_SLICE_WRITERS + 5);
  const last = w.list.length - 1;
  // Flushed in the first slice, it makes the last writer (in the second) leave, as a writer that
  // reached flushMaxEvents or closed would.
  tick.add(() => tick.delete(w.list[last]!));
  for (const flush of w.list) tick.add(flush);
  await ticked(100);
  expect(w.slices).toHaveLength(2);
  expect(w.calls).toEqual(Array.from({ length: last }, (_, i) => i));
});

test('a writer added while a tick is being sliced waits for the next window', async () => {
  const tick = new FlushTick(30);
  const w = writers(tick, FLUSH_SLICE_WRITERS * 2);
  const late = writers(tick, 1);
  let firedAt = 0;
  let lateAt = 0;
  tick.add(() => {
    firedAt = performance.now();
    tick.add(() => {
      lateAt = performance.now();
      late.list[0]!();
    });
  });
  for (const flush of w.list) tick.add(flush);
  await ticked(150);
  expect(w.calls).toHaveLength(w.list.length);
  expect(late.calls).toEqual([0]);
  expect(lateAt - firedAt).toBeGreaterThanOrEqual(25);
});

test('writers that all left before the tick fired are not called', async () => {
  const tick = new FlushTick(20);
  const w = writers(tick, 3);
  for (const flush of w.list) tick.add(flush);
  for (const flush of w.list) tick.delete(flush);
  await ticked(60);
  expect(w.calls).toEqual([]);
});
