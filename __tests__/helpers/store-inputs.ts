// Inputs for store tests, shared by the store contract and the Redis-specific suites: encoded
// events, create and append inputs, fresh response ids.

import { randomBytes } from 'node:crypto';
import type { AppendInput, CreateRecordInput } from '../../lib/types';

/** Encoded event `seq` of a text stream. */
export function event(seq: number, text = `d${seq}`): string {
  return JSON.stringify({ type: 'response.output_text.delta', sequence_number: seq, delta: text });
}

/** Events `from..to` inclusive. */
export function events(from: number, to: number): string[] {
  return Array.from({ length: to - from + 1 }, (_, i) => event(from + i));
}

export function newId(): string {
  return `resp_${randomBytes(16).toString('hex')}`;
}

/** A create input with one `response.created` event (sequence 0). */
export function createInput(overrides: Partial<CreateRecordInput> = {}): CreateRecordInput {
  const id = overrides.id ?? newId();
  const snapshot = JSON.stringify({ id, object: 'response', status: 'queued', output: [] });
  return {
    id,
    owner: 'owner-a',
    snapshot,
    events: [JSON.stringify({ type: 'response.created', sequence_number: 0, response: JSON.parse(snapshot) })],
    stream: true,
    leaseMs: 30_000,
    ttlSeconds: 60,
    ...overrides,
  };
}

export function appendInput(overrides: Partial<AppendInput> = {}): AppendInput {
  return { fence: 1, firstSeq: 1, events: [], leaseMs: 30_000, ttlSeconds: 60, ...overrides };
}
