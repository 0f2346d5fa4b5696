// Parsing turn records: what the next turn of a conversation needs of a response (its input items,
// the turn before it, where the upstream holds it), as both stores keep it.

import type { InputItem, TurnRecord, TurnUpstream } from '../types';

const PATHS = new Set<TurnRecord['path']>(['polling', 'native', 'pass_through']);

function jsonObject(raw: string | null): Record<string, unknown> | null {
  if (raw === null) return null;
  try {
    const value: unknown = JSON.parse(raw);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Parses where the upstream holds a turn; `undefined` for anything malformed. */
function parseUpstream(raw: string | null): TurnUpstream | undefined {
  const value = jsonObject(raw);
  const d = (value?.deployment ?? {}) as Record<string, unknown>;
  if (!value || typeof value.id !== 'string' || typeof value.stored !== 'boolean') return undefined;
  if (typeof d.index !== 'number' || typeof d.modelName !== 'string' || typeof d.apiBase !== 'string') return undefined;
  return { id: value.id, stored: value.stored, deployment: { index: d.index, modelName: d.modelName, apiBase: d.apiBase } };
}

/** Parses a turn record and its upstream as stored; `null` when the record is malformed. */
export function parseTurn(raw: string | null, upstreamRaw: string | null): TurnRecord | null {
  const value = jsonObject(raw);
  if (!value) return null;
  const { owner, path, previousResponseId, inputItems, output } = value;
  if (typeof owner !== 'string' || !PATHS.has(path as TurnRecord['path'])) return null;
  if (previousResponseId !== null && typeof previousResponseId !== 'string') return null;
  if (!Array.isArray(inputItems) || !inputItems.every((i) => i && typeof i === 'object' && typeof (i as InputItem).id === 'string')) return null;
  const turn: TurnRecord = {
    owner,
    path: path as TurnRecord['path'],
    previousResponseId,
    instructions: value.instructions ?? null,
    inputItems: inputItems as InputItem[],
  };
  if (Array.isArray(output)) turn.output = output as TurnRecord['output'];
  const upstream = parseUpstream(upstreamRaw) ?? parseUpstream(value.upstream === undefined ? null : JSON.stringify(value.upstream));
  if (upstream) turn.upstream = upstream;
  return turn;
}
