// The YAML layout is stated once: every YAML value the reader copies into an option is validated by
// the YAML schema as strictly as the option is, so its errors name the YAML path, never an option's.

import type { SchemaObject } from 'ajv';
import { liteLLMSchema } from '../../lib/config/litellm-schema';
import { optionsSchema } from '../../lib/config/options-schema';

const props = (s: SchemaObject): Record<string, SchemaObject> => (s.properties ?? {}) as Record<string, SchemaObject>;

function readsOptions(s: SchemaObject): boolean {
  const items = s.items as SchemaObject | undefined;
  if (items && typeof items === 'object' && readsOptions(items)) return true;
  return Object.values(props(s)).some((sub) => sub.option !== undefined || readsOptions(sub));
}

/** Each YAML leaf read into an option: its YAML path, the option path (`[]` for list items) and its schema. */
function readLeaves(s: SchemaObject, yaml: string[], option: string[], out: { yaml: string; option: string[]; schema: SchemaObject }[]): void {
  for (const [key, sub] of Object.entries(props(s))) {
    const target = sub.option === undefined ? option : [...option, sub.option as string];
    if (!readsOptions(sub)) {
      if (sub.option !== undefined) out.push({ yaml: [...yaml, key].join('.'), option: target, schema: sub });
    } else if (sub.items) {
      readLeaves(sub.items as SchemaObject, [...yaml, key, '[]'], [...target, '[]'], out);
    } else {
      readLeaves(sub, [...yaml, key], target, out);
    }
  }
}

function optionSchemaAt(segments: string[]): SchemaObject | undefined {
  let s: SchemaObject | undefined = optionsSchema;
  for (const seg of segments) s = seg === '[]' ? (s?.items as SchemaObject | undefined) : props(s ?? {})[seg];
  return s;
}

const CONSTRAINTS = ['type', 'minimum', 'maximum', 'minLength', 'maxLength', 'pattern', 'enum', 'const', 'minItems', 'check'] as const;
const constraints = (s: SchemaObject) => Object.fromEntries(CONSTRAINTS.filter((k) => s[k] !== undefined).map((k) => [k, s[k]]));

// Where YAML deliberately differs: LiteLLM reads a bare model name as openai/<name> (no provider
// check at load; unservable entries are skipped with a warning instead).
const DIFFERENT = new Set(['model_list.[].litellm_params.model']);

describe('the LiteLLM YAML schema', () => {
  const leaves: { yaml: string; option: string[]; schema: SchemaObject }[] = [];
  readLeaves(liteLLMSchema, [], [], leaves);

  test('reads into options that exist, from many places', () => {
    expect(leaves.length).toBeGreaterThan(40);
    const missing = leaves.filter((l) => optionSchemaAt(l.option) === undefined).map((l) => `${l.yaml} → ${l.option.join('.')}`);
    expect(missing).toEqual([]);
  });

  test('validates every value it reads as strictly as the option it becomes', () => {
    const drift = leaves
      .filter((l) => !DIFFERENT.has(l.yaml))
      .filter((l) => JSON.stringify(constraints(l.schema)) !== JSON.stringify(constraints(optionSchemaAt(l.option) as SchemaObject)))
      .map((l) => `${l.yaml} → ${l.option.join('.')}`);
    expect(drift).toEqual([]);
  });
});
