// What both stores keep in serialised form, parsed: control messages and native records, and the
// error a store writes when a worker's lease lapsed.

import { ERROR_DETAILS, responseError } from '../response-vocabulary';
import type { ControlMessage, NativeResponseRecord, ResponseErrorObject } from '../types';

/** The error a store records on a response whose worker's lease lapsed. Shared by both stores. */
export const WORKER_LOST_ERROR: Readonly<ResponseErrorObject> = Object.freeze(
  responseError(ERROR_DETAILS.workerLost, 'The worker running this response stopped before it finished (its lease expired).'),
);

/** {@link WORKER_LOST_ERROR} as the JSON the Redis scripts record. */
export const WORKER_LOST_JSON = JSON.stringify(WORKER_LOST_ERROR);

/** The object `raw` holds as JSON; `null` when it is not JSON or not an object. */
function jsonObject(raw: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(raw);
    return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Parses a control message as published by a store; `null` for anything malformed. */
export function parseControlMessage(raw: string): ControlMessage | null {
  const value = jsonObject(raw);
  if (!value) return null;
  const { id, action } = value;
  if (typeof id !== 'string' || id === '' || (action !== 'cancel' && action !== 'delete')) return null;
  return { id, action };
}

/** Parses a native response record as stored; `null` for anything malformed. Shared by both stores. */
export function parseNativeRecord(raw: string): NativeResponseRecord | null {
  const value = jsonObject(raw);
  if (!value) return null;
  const { owner, deployment, model, createdAt } = value;
  const d = (deployment ?? {}) as Record<string, unknown>;
  if (typeof owner !== 'string' || typeof model !== 'string' || typeof createdAt !== 'number') return null;
  if (typeof d.index !== 'number' || typeof d.modelName !== 'string' || typeof d.apiBase !== 'string') return null;
  const record: NativeResponseRecord = { owner, model, createdAt, deployment: { index: d.index, modelName: d.modelName, apiBase: d.apiBase } };
  if (value.path === 'pass_through') record.path = 'pass_through';
  const a = value.admission as Record<string, unknown> | undefined;
  if (a && typeof a.id === 'string' && Array.isArray(a.subjects) && a.subjects.every((k) => typeof k === 'string')) {
    record.admission = { id: a.id, subjects: [...(a.subjects as string[])] };
  }
  return record;
}
