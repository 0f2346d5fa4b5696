// Small pieces the test suites share: scripted upstream steps from events, a gate to hold an
// upstream stream, a Response's text, reading an SDK stream with a deadline, sleeping and polling.

import type { ResponseStreamEvent } from 'openai/resources/responses/responses';
import { ev, type Step } from './fake-upstream';

/** Upstream steps sending `events`, with an optional pause before each. */
export function steps(events: Array<Record<string, unknown>>, waitMs = 0): Step[] {
  return events.flatMap((e) => (waitMs ? [{ wait: waitMs } as Step, ev(e)] : [ev(e)]));
}

/** A promise the test opens when it wants a held upstream stream to go on. */
export function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

/** The text of a Response's output (the SDK fills `output_text` only on create and retrieve). */
export function textOf(r: { output: unknown[] }): string {
  return (r.output as Array<{ content?: Array<{ text?: string }> }>).flatMap((i) => i.content ?? []).map((c) => c.text ?? '').join('');
}

/** Reads a stream to its end, failing with a clear message instead of hanging. */
export async function collect(stream: AsyncIterable<ResponseStreamEvent>, timeoutMs = 15_000): Promise<ResponseStreamEvent[]> {
  const events: ResponseStreamEvent[] = [];
  let timer: NodeJS.Timeout | undefined;
  const read = (async () => {
    for await (const event of stream) events.push(event);
    return events;
  })();
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`stream did not end within ${timeoutMs} ms; got ${events.map((e) => e.type).join(', ')}`)), timeoutMs);
  });
  try {
    return await Promise.race([read, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `fn` until it returns a truthy value (or throws after `timeoutMs`). */
export async function waitFor<T>(fn: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 10000, label = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value as T;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * A matcher for the error of a Response this package failed: one of OpenAI's codes, and a message
 * led by our detail (`"<detail>: <text>"`).
 */
export function failedWith(detail: string, code = 'server_error'): { code: string; message: unknown } {
  return { code, message: expect.stringMatching(new RegExp(`^${detail.replace(/[.]/g, '\\.')}: \\S`)) };
}
