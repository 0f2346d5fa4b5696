// The one ajv instance both configuration schemas compile with: its annotation keywords and the
// named `check`s (store, limiter and logger contracts, URLs, provider prefixes, virtual keys).

import Ajv, { type ErrorObject, type SchemaObject, type ValidateFunction } from 'ajv';
import type { LimiterStore } from '../limiter/types';
import type { Logger, ResponseStore } from '../types';

// Schema annotations (no effect on validity):
//  - `fix`: the sentence that tells the user what to write instead;
//  - `secret`: never show the value, not even its number;
//  - `keepNull`: in YAML, an empty value (`key:`) is an error here instead of "unset";
//  - `option`: in the YAML schema, where the value goes in the options (see yaml-reader.ts);
//  - `quiet`: in the YAML schema, a LiteLLM setting that is known, not used and not worth a warning.
// The `check` keyword runs one of the named checks below; each returns the problem or null.

type Check = (data: unknown, parentData: Record<string, unknown> | undefined) => string | null;

/** Every method of the ResponseStore contract; the compiler keeps it in step with the interface. */
const STORE_METHOD_SET: { readonly [K in keyof ResponseStore]-?: true } = {
  create: true,
  read: true,
  readEvents: true,
  append: true,
  restore: true,
  cancel: true,
  delete: true,
  rememberNative: true,
  lookupNative: true,
  forgetNative: true,
  claimNativeEnd: true,
  scheduleNative: true,
  dueNatives: true,
  unscheduleNative: true,
  holdLease: true,
  saveTurn: true,
  setTurnUpstream: true,
  keepTurn: true,
  readTurn: true,
  forgetTurn: true,
  claim: true,
  renewClaim: true,
  markClaimStarted: true,
  releaseClaim: true,
  handBack: true,
  dropQueued: true,
  queueDepth: true,
  startQueued: true,
  failQueued: true,
  subscribe: true,
  ping: true,
  close: true,
};

/** The methods a custom `store` must have (the ResponseStore contract). */
export const STORE_METHODS = Object.keys(STORE_METHOD_SET) as readonly (keyof ResponseStore)[];

/** The methods of a custom `limiter` that the router calls (`usage` is for callers only). */
export const LIMITER_METHODS = ['admit', 'rollback', 'release', 'acquire', 'renew', 'record', 'close'] as const satisfies readonly (keyof LimiterStore)[];

const LOGGER_METHOD_SET: { readonly [K in keyof Logger]-?: true } = { debug: true, info: true, warn: true, error: true };
const LOGGER_METHODS = Object.keys(LOGGER_METHOD_SET) as readonly (keyof Logger)[];

function missingMethods(data: unknown, methods: readonly string[]): string[] {
  const obj = data as Record<string, unknown>;
  return methods.filter((m) => typeof obj?.[m] !== 'function');
}

function urlWithProtocol(data: string, protocols: string[]): boolean {
  try {
    return protocols.includes(new URL(data).protocol);
  } catch {
    return false;
  }
}

function oneKeyProblem(data: unknown, key: string, hash: string): string | null {
  if (!data || typeof data !== 'object' || Array.isArray(data)) return null;
  const obj = data as Record<string, unknown>;
  if (obj[key] !== undefined && obj[hash] !== undefined) return `has both ${key} and ${hash}`;
  if (obj[key] === undefined && obj[hash] === undefined) return `has neither ${key} nor ${hash}`;
  return null;
}

const plural = (n: number, word: string) => (n > 1 ? `${word}s` : word);

const CHECKS: Record<string, Check> = {
  // LiteLLM compares the value with "all" and checks for a list; `true` passes neither, so the
  // feature is silently off there. Here it is an error.
  pollingNotTrue: (data) =>
    data === true || (typeof data === 'string' && data.trim().toLowerCase() === 'true')
      ? 'is true, which LiteLLM silently treats as "off" (it accepts only "all" or a list of providers)'
      : null,
  providerModel: (data, parent) => {
    if (typeof data !== 'string' || data === '') return null;
    const explicitProvider = parent?.provider ?? parent?.custom_llm_provider;
    if (typeof explicitProvider === 'string' && explicitProvider !== '') return null;
    const slash = data.indexOf('/');
    if (slash < 0) return `is "${data}", which has no provider prefix`;
    if (slash === 0) return `is "${data}", which has an empty provider before the /`;
    if (slash === data.length - 1) return `is "${data}", which has no model name after the /`;
    return null;
  },
  httpUrl: (data) => (typeof data === 'string' && !urlWithProtocol(data, ['http:', 'https:']) ? 'is not an http(s) URL' : null),
  redisUrl: (data) =>
    typeof data === 'string' && !urlWithProtocol(data, ['redis:', 'rediss:']) ? 'is not a redis:// or rediss:// URL' : null,
  store: (data) => {
    const missing = missingMethods(data, STORE_METHODS);
    return missing.length ? `is missing the store ${plural(missing.length, 'method')} ${missing.join(', ')}` : null;
  },
  // A virtual key needs exactly one of its plaintext key and its digest (and, in YAML, at most one name).
  oneKeyOptions: (data) => oneKeyProblem(data, 'key', 'keyHash'),
  oneKeyYaml: (data) => {
    const obj = data as Record<string, unknown> | null;
    if (obj && typeof obj === 'object' && obj.key_alias !== undefined && obj.id !== undefined) {
      return 'has both key_alias and id, which name the same thing';
    }
    return oneKeyProblem(data, 'key', 'key_hash');
  },
  limiter: (data) => {
    const missing = missingMethods(data, LIMITER_METHODS);
    return missing.length ? `is missing the limiter ${plural(missing.length, 'method')} ${missing.join(', ')}` : null;
  },
  function: (data) => (typeof data === 'function' ? null : `is ${describeValue(data, false)}, not a function`),
  registry: (data) => {
    const missing = missingMethods(data, ['registerMetric', 'getSingleMetric', 'metrics']);
    return missing.length ? `is not a prom-client Registry (missing ${missing.join(', ')})` : null;
  },
  logger: (data) => {
    const missing = missingMethods(data, LOGGER_METHODS);
    return missing.length ? `is missing the ${plural(missing.length, 'method')} ${missing.join(', ')}` : null;
  },
};

/** How a value is shown in a message: its kind, or (numbers and booleans, unless secret) the value. */
export function describeValue(data: unknown, secret: boolean): string {
  if (data === null) return 'nothing (an empty value)';
  if (Array.isArray(data)) return 'a list';
  if (typeof data === 'function') return 'a function';
  if (typeof data === 'object') return 'a mapping';
  if (typeof data === 'string') return data === '' ? 'an empty string' : 'a string';
  if (secret) return typeof data === 'number' ? 'a number' : 'a boolean';
  return String(data);
}

function runCheck(name: string, data: unknown, parentSchema?: SchemaObject, cxt?: { parentData?: unknown }): boolean {
  const problem = CHECKS[name](data, cxt?.parentData as Record<string, unknown> | undefined);
  if (problem === null) return true;
  (runCheck as unknown as ValidateFunction).errors = [
    // ajv fills in instancePath and schemaPath.
    { keyword: 'check', message: problem, params: { check: name, fix: parentSchema?.fix } } as unknown as ErrorObject,
  ];
  return false;
}

/** The ajv instance of the configuration schemas (all errors, with data, strict). */
export const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true });
ajv.addKeyword({ keyword: 'fix', schemaType: 'string' });
ajv.addKeyword({ keyword: 'secret', schemaType: 'boolean' });
ajv.addKeyword({ keyword: 'keepNull', schemaType: 'boolean' });
ajv.addKeyword({ keyword: 'option', schemaType: 'string' });
ajv.addKeyword({ keyword: 'quiet', schemaType: 'boolean' });
ajv.addKeyword({ keyword: 'check', schemaType: 'string', errors: true, validate: runCheck });
