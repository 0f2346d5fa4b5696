// Reads a LiteLLM-style YAML file (`model_list`, `litellm_settings`, `general_settings`, …) and
// maps the parts this package understands onto `ResponsesPollingOptions`.

import * as fs from 'fs';
import * as path from 'path';
import type { SchemaObject } from 'ajv';
import * as yaml from 'js-yaml';
import { ConfigError } from '../errors';
import { createStderrLogger } from '../logger';
import type { Logger } from '../types';
import type { DeploymentOptions, RedisConnectionOptions, ResponsesPollingOptions, UpstreamApi, VirtualKeyOptions, WorkerOptions } from './options';
import { authProblems } from './resolve-auth';
import { defaultApiBase, splitModel } from './routing';
import { liteLLMSchema, validateLiteLLMConfig } from './schema';

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions {
  /** Where `os.environ/NAME` values (and LiteLLM's REDIS_* fallbacks) are read. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Receives the warnings; also becomes the `logger` of the returned options. Default: stderr. */
  logger?: Logger;
}

/**
 * Reads `file` (relative paths resolve from `process.cwd()`) and returns the options it describes.
 * Throws a `ConfigError` for a YAML syntax error (with file and line) or a bad value (with its
 * YAML path and the fix). LiteLLM settings this package does not use are reported in one warning,
 * never fatal. A `litellm_params.model` without a provider prefix (`gpt-3.5-turbo`) is read as
 * `openai/<name>`, with one warning listing those entries; deployments it cannot serve (a model
 * with no name after the `/`, such as `azure/`) or reach (no `api_base` for a provider other than
 * openai) are skipped with a warning. So LiteLLM's own `proxy_server_config.yaml` loads.
 * An unset `os.environ/` variable leaves its setting empty with a warning, except for
 * `master_key` and a virtual key's `key`, where it is an error (fail closed). Messages carry paths,
 * variable names and model names, never a key, password or URL from the file or the environment.
 */
export function loadConfig(file: string, opts: LoadConfigOptions = {}): ResponsesPollingOptions {
  const env = opts.env ?? process.env;
  const logger = opts.logger ?? createStderrLogger();
  const doc = parseYaml(file);

  const unset: EnvRef[] = [];
  const resolved = resolveEnvRefs(doc, [], env, unset);
  // From the file as written: a key whose os.environ/ variable is unset is still a key the file sets.
  const ignored: string[][] = [];
  collectIgnored(doc, READ_SPEC, [], ignored);
  const problems = unsetKeys(file, unset);

  normalise(resolved, liteLLMSchema);
  const validation = validateLiteLLMConfig(resolved, file);
  problems.push(...validation.problems);
  if (problems.length > 0) {
    // An unset variable is often the cause of the problem; say so before failing.
    warnUnsetVariables(file, unset, ignored, logger);
    throw new ConfigError(problems);
  }

  const mapped = mapToOptions(resolved as LiteLLMDoc, file, env);
  mapped.problems.push(...authProblems(mapped.options, 'yaml', file));
  warnUnsetVariables(file, unset, ignored, logger);
  if (mapped.problems.length > 0) throw new ConfigError(mapped.problems);
  for (const warning of validation.warnings) logger.warn(warning, { file });
  if (ignored.length > 0) {
    const paths = [...new Set(ignored.map(collapseIndices))];
    logger.warn(`${file}: ignoring ${paths.length} LiteLLM setting(s) that this package does not use: ${paths.join(', ')}.`, {
      file,
      ignored: paths,
    });
  }
  warnAboutDeployments(file, mapped.notes, logger);
  if (opts.logger) mapped.options.logger = opts.logger;
  return mapped.options;
}

/** One warning per kind of deployment note, each listing every entry by its model_list path. */
function warnAboutDeployments(file: string, notes: MappingNotes, logger: Logger): void {
  const { inferred, unservable, skipped, strategy } = notes;
  if (strategy !== undefined) {
    logger.warn(
      `${file}: router_settings.routing_strategy "${strategy}" is not implemented here; simple-shuffle is used. ` +
        'Write simple-shuffle or round-robin to silence this warning.',
      { file },
    );
  }
  if (inferred.length > 0) {
    const list = inferred.map((n) => `${n.path} ("${n.model}")`).join(', ');
    logger.warn(
      `${file}: ${inferred.length} deployment(s) name a model without a provider prefix: ${list}. ` +
        'They are read as openai/<name>, as LiteLLM infers for OpenAI model names. ' +
        'Write litellm_params.model as openai/<name> to silence this warning (or with the right provider prefix if it is not an OpenAI model).',
      { file, paths: inferred.map((n) => n.path) },
    );
  }
  if (unservable.length > 0) {
    logger.warn(
      `${file}: skipping ${unservable.length} deployment(s) whose model cannot be served: ${unservable.join('; ')}. ` +
        'Write litellm_params.model as provider/name, e.g. azure/<deployment name>, to use them.',
      { file, skipped: unservable },
    );
  }
  if (skipped.length > 0) {
    logger.warn(
      `${file}: skipping ${skipped.length} deployment(s) without api_base: ${skipped.join('; ')}. ` +
        'Only OpenAI-compatible APIs are reached; add api_base (the provider’s OpenAI-compatible URL ending in /v1) to use them.',
      { file, skipped },
    );
  }
}

function parseYaml(file: string): unknown {
  const fullPath = path.resolve(process.cwd(), file);
  let text: string;
  try {
    text = fs.readFileSync(fullPath, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'read error';
    throw new ConfigError([
      `${file}: cannot read the configuration file (${code}; looked at ${fullPath}). ` +
        `Check the path; a relative path is resolved from the current directory, ${process.cwd()}.`,
    ]);
  }
  let doc: unknown;
  try {
    doc = yaml.load(text, { filename: file });
  } catch (err) {
    if (err instanceof yaml.YAMLException) {
      // `reason` and `mark` only: the exception's own message quotes the offending line, which may hold a key.
      const line = err.mark ? `:${err.mark.line + 1}:${err.mark.column + 1}` : '';
      throw new ConfigError([`${file}${line}: YAML syntax error: ${err.reason}. Fix the YAML there (indentation, quoting, a missing colon).`]);
    }
    throw err;
  }
  if (doc === undefined || doc === null) {
    throw new ConfigError([`${file}: the file is empty. Write at least a model_list (see the README for an example).`]);
  }
  return doc;
}

// ---------------------------------------------------------------------------------------------
// `os.environ/NAME` references.

interface EnvRef {
  name: string;
  segments: string[];
}

const ENV_PREFIX = 'os.environ/';

function resolveEnvRefs(node: unknown, segments: string[], env: NodeJS.ProcessEnv, unset: EnvRef[]): unknown {
  if (typeof node === 'string') {
    if (!node.startsWith(ENV_PREFIX)) return node;
    const name = node.slice(ENV_PREFIX.length).trim();
    const value = env[name];
    if (value === undefined) unset.push({ name, segments });
    return value;
  }
  if (Array.isArray(node)) return node.map((item, i) => resolveEnvRefs(item, [...segments, String(i)], env, unset));
  if (node && typeof node === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(node)) out[key] = resolveEnvRefs(value, [...segments, key], env, unset);
    return out;
  }
  return node;
}

function isUnder(segments: string[], prefix: string[]): boolean {
  return prefix.length <= segments.length && prefix.every((s, i) => s === segments[i]);
}

/** `general_settings.master_key` and `general_settings.virtual_keys[i].key`. */
function isKeyPath(segments: string[]): boolean {
  const p = segments.join('.');
  return p === 'general_settings.master_key' || /^general_settings\.virtual_keys\.\d+\.key$/.test(p);
}

/**
 * An unset master key would leave the routes open, an unset virtual key would lock its owner out
 * unnoticed: both are errors (fail closed), not warnings.
 */
function unsetKeys(file: string, unset: EnvRef[]): string[] {
  return unset
    .filter((ref) => isKeyPath(ref.segments))
    .map((ref) =>
      ref.segments[1] === 'master_key'
        ? `${file}: general_settings.master_key reads os.environ/${ref.name}, which is not set. ` +
          `Set ${ref.name} in the environment, or remove master_key to run without it.`
        : `${file}: ${renderPath(ref.segments)} reads os.environ/${ref.name}, which is not set. ` +
          `Set ${ref.name} in the environment, or remove that virtual key.`,
    );
}

/** One warning per unset variable that a setting in use reads, with every path; never a value. */
function warnUnsetVariables(file: string, unset: EnvRef[], notUsed: string[][], logger: Logger): void {
  const byName = new Map<string, string[]>();
  for (const ref of unset) {
    if (notUsed.some((prefix) => isUnder(ref.segments, prefix))) continue;
    if (isKeyPath(ref.segments)) continue;
    byName.set(ref.name, [...(byName.get(ref.name) ?? []), renderPath(ref.segments)]);
  }
  for (const [name, paths] of byName) {
    logger.warn(`${file}: os.environ/${name} is not set; ${paths.join(', ')} left empty. Set ${name} in the environment.`, {
      file,
      variable: name,
      paths,
    });
  }
}

function renderPath(segments: string[]): string {
  return segments.map((s, i) => (/^\d+$/.test(s) ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
}

function collapseIndices(segments: string[]): string {
  return renderPath(segments.map((s) => (/^\d+$/.test(s) ? '*' : s))).replace(/\.\*/g, '[*]');
}

// ---------------------------------------------------------------------------------------------
// Normalising the way LiteLLM reads YAML, guided by the schema: an empty value (`key:`) is unset
// (unless the schema says `keepNull`), and numbers or booleans written as strings (`port: "6379"`,
// or anything from os.environ/) become numbers or booleans where the schema wants one.

function schemaType(schema: SchemaObject): string | undefined {
  return typeof schema.type === 'string' ? schema.type : undefined;
}

function normalise(data: unknown, schema: SchemaObject): void {
  if (Array.isArray(data)) {
    if (schema.items && typeof schema.items === 'object') {
      data.forEach((item, i) => {
        data[i] = coerce(item, schema.items as SchemaObject);
        normalise(data[i], schema.items as SchemaObject);
      });
    }
    return;
  }
  if (!data || typeof data !== 'object' || !schema.properties) return;
  const obj = data as Record<string, unknown>;
  for (const [key, sub] of Object.entries(schema.properties as Record<string, SchemaObject>)) {
    if (!(key in obj)) continue;
    if (obj[key] === undefined || (obj[key] === null && !sub.keepNull)) {
      delete obj[key];
      continue;
    }
    obj[key] = coerce(obj[key], sub);
    normalise(obj[key], sub);
  }
}

function coerce(value: unknown, schema: SchemaObject): unknown {
  if (typeof value !== 'string') return value;
  const t = schemaType(schema);
  if ((t === 'integer' || t === 'number') && /^\s*-?\d+(\.\d+)?\s*$/.test(value)) return Number(value);
  if (t === 'boolean' && /^\s*(true|false)\s*$/i.test(value)) return value.trim().toLowerCase() === 'true';
  return value;
}

// ---------------------------------------------------------------------------------------------
// What this package reads. Anything else LiteLLM knows is collected and warned about once.
// `true`: read as a whole; `'quiet'`: known, not used, not worth a warning; `{ $items }`: a list.

type Spec = true | 'quiet' | { $items: Spec } | { [key: string]: Spec };

const READ_SPEC: Spec = {
  model_list: {
    $items: {
      model_name: true,
      rpm: true,
      tpm: true,
      litellm_params: {
        model: true,
        api_base: true,
        api_key: true,
        custom_llm_provider: true,
        api_version: true,
        rpm: true,
        tpm: true,
        input_cost_per_token: true,
        output_cost_per_token: true,
      },
      model_info: { rpm: true, tpm: true, input_cost_per_token: true, output_cost_per_token: true, upstream_api: true },
    },
  },
  router_settings: { routing_strategy: true, num_retries: true },
  litellm_settings: {
    responses: { background_mode: { polling_via_cache: true, native_background_mode: true, ttl: true } },
    // LiteLLM's docs turn the response cache on to get a Redis handle for polling; it is the
    // cache_params that matter here.
    cache: 'quiet',
    cache_params: { type: true, host: true, port: true, password: true, username: true, url: true, redis_url: true, db: true, ssl: true },
  },
  general_settings: { master_key: true, virtual_keys: true },
  responses_polling: true,
};

function collectIgnored(node: unknown, spec: Spec, segments: string[], out: string[][]): void {
  if (spec === true || spec === 'quiet' || node === null || typeof node !== 'object') return;
  if ('$items' in spec) {
    if (Array.isArray(node)) node.forEach((item, i) => collectIgnored(item, spec.$items as Spec, [...segments, String(i)], out));
    return;
  }
  if (Array.isArray(node)) return;
  for (const [key, value] of Object.entries(node)) {
    const sub = (spec as Record<string, Spec>)[key];
    if (sub === undefined) {
      out.push([...segments, key]);
    } else {
      collectIgnored(value, sub, [...segments, key], out);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Mapping the validated document onto options.

interface LiteLLMDoc {
  model_list?: {
    model_name: string;
    rpm?: number;
    tpm?: number;
    litellm_params: {
      model: string;
      api_base?: string;
      api_key?: string;
      custom_llm_provider?: string;
      api_version?: string;
      rpm?: number;
      tpm?: number;
      input_cost_per_token?: number;
      output_cost_per_token?: number;
    };
    model_info?: { rpm?: number; tpm?: number; input_cost_per_token?: number; output_cost_per_token?: number; upstream_api?: UpstreamApi };
  }[];
  router_settings?: { routing_strategy?: string; num_retries?: number };
  litellm_settings?: {
    responses?: { background_mode?: { polling_via_cache?: 'all' | string[] | false; native_background_mode?: string[]; ttl?: number } };
    cache_params?: {
      type?: string;
      host?: string;
      port?: number;
      password?: string;
      username?: string;
      url?: string;
      redis_url?: string;
      db?: number;
      ssl?: boolean;
    };
  };
  general_settings?: { master_key?: string; virtual_keys?: YamlVirtualKey[] };
  responses_polling?: {
    auth?: 'none';
    key_prefix?: string;
    id_prefix?: string;
    max_body_bytes?: number;
    metrics?: boolean | { prefix?: string };
    worker?: Record<string, number | undefined>;
  };
}

interface YamlVirtualKey {
  key?: string;
  key_hash?: string;
  key_alias?: string;
  id?: string;
  rpm_limit?: number;
  tpm_limit?: number;
  max_parallel_requests?: number;
  max_budget?: number;
  models?: string[];
}

/** `general_settings.virtual_keys[i]` → `virtualKeys[i]` (the schema has checked every field). */
function virtualKeyFromYaml(entry: YamlVirtualKey): VirtualKeyOptions {
  const vk: VirtualKeyOptions = {};
  if (entry.key !== undefined) vk.key = entry.key;
  if (entry.key_hash !== undefined) vk.keyHash = entry.key_hash;
  const id = entry.key_alias ?? entry.id;
  if (id !== undefined) vk.id = id;
  if (entry.rpm_limit !== undefined) vk.rpmLimit = entry.rpm_limit;
  if (entry.tpm_limit !== undefined) vk.tpmLimit = entry.tpm_limit;
  if (entry.max_parallel_requests !== undefined) vk.maxParallelRequests = entry.max_parallel_requests;
  if (entry.max_budget !== undefined) vk.maxBudget = entry.max_budget;
  if (entry.models !== undefined) vk.models = entry.models;
  return vk;
}

const WORKER_KEYS: Record<string, keyof WorkerOptions> = {
  flush_interval_ms: 'flushIntervalMs',
  flush_max_events: 'flushMaxEvents',
  flush_max_bytes: 'flushMaxBytes',
  lease_ms: 'leaseMs',
  upstream_connect_timeout_ms: 'upstreamConnectTimeoutMs',
  upstream_idle_timeout_ms: 'upstreamIdleTimeoutMs',
  store_retry_grace_ms: 'storeRetryGraceMs',
  shutdown_grace_ms: 'shutdownGraceMs',
  upstream_max_attempts: 'upstreamMaxAttempts',
  upstream_retry_base_ms: 'upstreamRetryBaseMs',
};

/** What {@link mapToOptions} found besides the options: all of it is warned about, none is fatal. */
interface MappingNotes {
  /** Deployments without api_base for a provider that has no default, as `model_list[i] (…)`. */
  skipped: string[];
  /** Deployments whose model names no upstream model (`azure/`, `/gpt-4o`), as `model_list[i] (…): why`. */
  unservable: string[];
  /** Paths (`model_list[i]`) and models of bare model names read as `openai/<name>`. */
  inferred: { path: string; model: string }[];
  /** A `router_settings.routing_strategy` this package does not implement. */
  strategy?: string;
}

/**
 * The model of a YAML deployment as the options want it, or why it cannot be served. LiteLLM
 * accepts a bare name and infers the provider from it (OpenAI's model names, as in its own
 * proxy_server_config.yaml); here a bare name is read as openai. With custom_llm_provider the
 * name is used as written.
 */
function yamlModel(model: string, explicitProvider: string | undefined): { model: string; inferred: boolean } | { unservable: string } {
  if (!explicitProvider) {
    const slash = model.indexOf('/');
    if (slash < 0) return { model: `openai/${model}`, inferred: true };
    if (slash === 0) return { unservable: `model "${model}" has no provider before the /` };
  }
  if (splitModel(model, explicitProvider).upstreamModel === '') {
    return { unservable: `model "${model}" has no model name after the /` };
  }
  return { model, inferred: false };
}

function mapToOptions(
  doc: LiteLLMDoc,
  file: string,
  env: NodeJS.ProcessEnv,
): { options: ResponsesPollingOptions; notes: MappingNotes; problems: string[] } {
  const options: ResponsesPollingOptions = {};
  const notes: MappingNotes = { skipped: [], unservable: [], inferred: [] };
  const problems: string[] = [];

  if (doc.model_list) {
    options.models = [];
    doc.model_list.forEach((entry, i) => {
      const lp = entry.litellm_params;
      const read = yamlModel(lp.model, lp.custom_llm_provider);
      if ('unservable' in read) {
        notes.unservable.push(`model_list[${i}] (model_name "${entry.model_name}"): ${read.unservable}`);
        return;
      }
      if (read.inferred) notes.inferred.push({ path: `model_list[${i}]`, model: lp.model });
      const { provider } = splitModel(read.model, lp.custom_llm_provider);
      // An azure resource root gets its API path appended when the options are resolved.
      const apiBase = lp.api_base;
      if (apiBase === undefined && defaultApiBase(provider) === undefined) {
        notes.skipped.push(`model_list[${i}] (model_name "${entry.model_name}", provider ${provider})`);
        return;
      }
      // LiteLLM's router reads limits from the entry first, then litellm_params, then model_info.
      const rpm = entry.rpm ?? lp.rpm ?? entry.model_info?.rpm;
      const tpm = entry.tpm ?? lp.tpm ?? entry.model_info?.tpm;
      const d: DeploymentOptions = { modelName: entry.model_name, model: read.model };
      if (apiBase !== undefined) d.apiBase = apiBase;
      if (lp.api_key !== undefined) d.apiKey = lp.api_key;
      if (lp.custom_llm_provider !== undefined) d.provider = lp.custom_llm_provider;
      if (lp.api_version !== undefined) d.apiVersion = lp.api_version;
      if (entry.model_info?.upstream_api !== undefined) d.upstreamApi = entry.model_info.upstream_api;
      if (rpm !== undefined) d.rpm = rpm;
      if (tpm !== undefined) d.tpm = tpm;
      // Prices, for budgets: model_info is where LiteLLM keeps them; litellm_params overrides.
      const inputCost = lp.input_cost_per_token ?? entry.model_info?.input_cost_per_token;
      const outputCost = lp.output_cost_per_token ?? entry.model_info?.output_cost_per_token;
      if (typeof inputCost === 'number') d.inputCostPerToken = inputCost;
      if (typeof outputCost === 'number') d.outputCostPerToken = outputCost;
      options.models?.push(d);
    });
  }

  const router = doc.router_settings;
  if (router?.routing_strategy !== undefined) {
    if (router.routing_strategy === 'simple-shuffle' || router.routing_strategy === 'round-robin') {
      options.routingStrategy = router.routing_strategy;
    } else {
      notes.strategy = router.routing_strategy;
    }
  }
  const bm = doc.litellm_settings?.responses?.background_mode;
  if (bm) {
    options.backgroundMode = {};
    if (bm.polling_via_cache !== undefined) options.backgroundMode.pollingViaCache = bm.polling_via_cache;
    if (bm.native_background_mode !== undefined) options.backgroundMode.nativeBackgroundMode = bm.native_background_mode;
    if (bm.ttl !== undefined) options.backgroundMode.ttl = bm.ttl;
  }

  if (doc.general_settings?.master_key !== undefined) options.masterKey = doc.general_settings.master_key;
  if (doc.general_settings?.virtual_keys !== undefined) options.virtualKeys = doc.general_settings.virtual_keys.map(virtualKeyFromYaml);

  const cache = doc.litellm_settings?.cache_params;
  if (cache?.type === 'redis') {
    const redis = redisFromCacheParams(cache, env, file, problems);
    if (redis !== undefined) options.redis = redis;
  }

  const rp = doc.responses_polling;
  if (rp) {
    if (rp.auth !== undefined) options.auth = rp.auth;
    if (rp.key_prefix !== undefined) options.keyPrefix = rp.key_prefix;
    if (rp.id_prefix !== undefined) options.idPrefix = rp.id_prefix;
    if (rp.max_body_bytes !== undefined) options.maxBodyBytes = rp.max_body_bytes;
    if (rp.metrics !== undefined) options.metrics = typeof rp.metrics === 'object' ? { ...rp.metrics } : rp.metrics;
    if (rp.worker) {
      const worker: WorkerOptions = {};
      for (const [snake, value] of Object.entries(rp.worker)) if (value !== undefined) worker[WORKER_KEYS[snake]] = value;
      options.worker = worker;
    }
  }
  // LiteLLM's num_retries counts retries; the worker counts attempts. An explicit worker setting wins.
  if (router?.num_retries !== undefined && options.worker?.upstreamMaxAttempts === undefined) {
    options.worker = { ...(options.worker ?? {}), upstreamMaxAttempts: router.num_retries + 1 };
  }
  return { options, notes, problems };
}

/**
 * `cache_params` of `type: redis` → `options.redis`. Like LiteLLM, fields the file leaves out fall
 * back to REDIS_URL, REDIS_HOST, REDIS_PORT, REDIS_USERNAME and REDIS_PASSWORD from the environment;
 * with none at all, the client's default (localhost:6379) is used.
 */
function redisFromCacheParams(
  cache: NonNullable<NonNullable<LiteLLMDoc['litellm_settings']>['cache_params']>,
  env: NodeJS.ProcessEnv,
  file: string,
  problems: string[],
): string | RedisConnectionOptions | undefined {
  const fromEnv = (name: string) => (env[name] !== undefined && env[name] !== '' ? env[name] : undefined);
  const url = cache.url ?? cache.redis_url;
  if (url !== undefined) return url;
  const conn: RedisConnectionOptions = {};
  const host = cache.host ?? fromEnv('REDIS_HOST');
  if (host !== undefined) conn.host = host;
  if (cache.port !== undefined) conn.port = cache.port;
  else if (fromEnv('REDIS_PORT') !== undefined) {
    const port = Number(fromEnv('REDIS_PORT'));
    if (Number.isInteger(port) && port >= 1 && port <= 65535) conn.port = port;
    else {
      problems.push(
        `${file}: litellm_settings.cache_params has no port, and REDIS_PORT (environment) is not a port number. ` +
          'Set REDIS_PORT to a number from 1 to 65535, or port in cache_params.',
      );
    }
  }
  const username = cache.username ?? fromEnv('REDIS_USERNAME');
  if (username !== undefined) conn.username = username;
  const password = cache.password ?? fromEnv('REDIS_PASSWORD');
  if (password !== undefined) conn.password = password;
  if (cache.db !== undefined) conn.db = cache.db;
  if (cache.ssl !== undefined) conn.tls = cache.ssl;
  if (Object.keys(conn).length === 0 && fromEnv('REDIS_URL') !== undefined) return fromEnv('REDIS_URL');
  return conn;
}
