// Turns ajv errors into "<path> <problem>. <fix>." lines, in option or YAML naming.

import type { ErrorObject, SchemaObject } from 'ajv';
import { describeValue } from './ajv';

/** Which naming the messages use: option paths (`backgroundMode.ttl`) or YAML paths (`litellm_settings…ttl`). */
export type ConfigNaming = 'options' | 'yaml';

/** `["model_list", "0", "rpm"]` → `model_list[0].rpm`; keys that are not identifiers are quoted. */
export function joinPath(segments: readonly string[]): string {
  let out = '';
  for (const seg of segments) {
    if (/^\d+$/.test(seg)) out += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** The path of a problem, naming the deployment too: "model_list[7]" alone makes the user count entries. */
function renderPath(segments: string[], root: unknown, naming: ConfigNaming): string {
  let out = joinPath(segments);
  const listKey = naming === 'yaml' ? 'model_list' : 'models';
  const nameKey = naming === 'yaml' ? 'model_name' : 'modelName';
  if (segments[0] === listKey && segments.length > 1 && /^\d+$/.test(segments[1])) {
    const entry = ((root as Record<string, unknown>)?.[listKey] as unknown[] | undefined)?.[Number(segments[1])];
    const name = (entry as Record<string, unknown> | undefined)?.[nameKey];
    if (typeof name === 'string' && name !== '') out += ` (${nameKey} "${name}")`;
  }
  return out;
}

function decodePointer(pointer: string): string[] {
  return pointer === '' ? [] : pointer.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

const TYPE_WORDS: Record<string, string> = {
  ...{ integer: 'a whole number', number: 'a number', string: 'a string', boolean: 'true or false' },
  ...{ object: 'a mapping', array: 'a list', null: 'empty' },
};

/** Edit distance, for "did you mean" hints on unknown keys. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length];
}

function suggest(key: string, known: string[]): string | undefined {
  const squash = (s: string) => s.toLowerCase().replace(/[_-]/g, '');
  return known.find((k) => squash(k) === squash(key)) ?? known.find((k) => distance(k.toLowerCase(), key.toLowerCase()) <= 2);
}

interface Problem {
  segments: string[];
  problem: string;
  fix?: string;
  rank: number;
}

function toProblem(err: ErrorObject): Problem {
  const segments = decodePointer(err.instancePath);
  const parent = (err.parentSchema ?? {}) as SchemaObject;
  const secret = parent.secret === true;
  const got = `got ${describeValue(err.data, secret)}`;
  switch (err.keyword) {
    case 'check':
      return { segments, problem: err.message ?? 'is invalid', fix: (err.params as { fix?: string }).fix, rank: 0 };
    case 'required': {
      const missing = (err.params as { missingProperty: string }).missingProperty;
      return { segments: [...segments, missing], problem: 'is required', fix: parent.properties?.[missing]?.fix, rank: 1 };
    }
    case 'additionalProperties': {
      const key = (err.params as { additionalProperty: string }).additionalProperty;
      const known = Object.keys(parent.properties ?? {});
      const hint = suggest(key, known);
      const fix = hint ? `Did you mean ${hint}?` : `Remove it; the known keys here are ${known.join(', ')}`;
      return { segments: [...segments, key], problem: 'is not a known setting', fix, rank: 1 };
    }
    case 'type': {
      const types = String((err.params as { type: string }).type).split(',');
      const want = types.map((t) => TYPE_WORDS[t] ?? t).join(' or ');
      return { segments, problem: `must be ${want} (${got})`, fix: parent.fix, rank: 1 };
    }
    case 'minimum':
    case 'maximum': {
      const { limit, comparison } = err.params as { limit: number; comparison: string };
      const word = comparison === '>=' ? 'at least' : 'at most';
      return { segments, problem: `must be ${word} ${limit} (${got})`, fix: parent.fix, rank: 2 };
    }
    case 'minLength':
      return { segments, problem: 'must not be empty', fix: parent.fix, rank: 2 };
    case 'minItems':
      return { segments, problem: 'must not be an empty list', fix: parent.fix, rank: 2 };
    case 'maxLength':
      return { segments, problem: `is longer than ${(err.params as { limit: number }).limit} characters`, fix: parent.fix, rank: 2 };
    case 'pattern':
      return { segments, problem: 'has characters that are not allowed here', fix: parent.fix, rank: 2 };
    default:
      return { segments, problem: `has an unsupported value (${got})`, fix: parent.fix, rank: 3 };
  }
}

/**
 * One line per problem path (the most telling error at each path), each as
 * `<where>: <path> <problem>. <fix>.`; `root` is the validated data, for deployment names.
 */
export function formatErrors(errors: ErrorObject[], root: unknown, naming: ConfigNaming, where: string): string[] {
  // Errors inside the branches of an anyOf only say which branch failed; the anyOf error itself
  // (with the property's fix) says it better.
  const relevant = errors.filter((e) => !/\/(anyOf|oneOf)\/\d+\//.test(e.schemaPath));
  const best = new Map<string, Problem>();
  for (const err of relevant) {
    const p = toProblem(err);
    const key = p.segments.join('\u0000');
    const prev = best.get(key);
    if (!prev || p.rank < prev.rank) best.set(key, p);
  }
  return [...best.values()].map((p) => {
    const path = renderPath(p.segments, root, naming);
    const at = path === '' ? where : where ? `${where}: ${path}` : path;
    const fix = p.fix ? ` ${p.fix.replace(/[.?]$/, '')}${p.fix.endsWith('?') ? '?' : '.'}` : '';
    return `${at || 'options'} ${p.problem}.${fix}`;
  });
}
