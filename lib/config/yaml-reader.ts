// Reads a validated LiteLLM YAML document into options, driven by the schema in litellm-schema.ts:
// how values are normalised, which keys are ignored, and where each read value goes (`option`).

import type { SchemaObject } from 'ajv';
import type { DeploymentOptions, RedisClusterNode, RedisConnectionOptions, ResponsesPollingOptions } from './options';
import { defaultApiBase, splitModel } from './routing';

type Node = Record<string, unknown>;

const isMapping = (v: unknown): v is Node => v !== null && typeof v === 'object' && !Array.isArray(v);
const propertiesOf = (schema: SchemaObject): Record<string, SchemaObject> => (schema.properties ?? {}) as Record<string, SchemaObject>;

// ---------------------------------------------------------------------------------------------
// Normalising the way LiteLLM reads YAML, guided by the schema: an empty value (`key:`) is unset
// (unless the schema says `keepNull`), and numbers or booleans written as strings (`port: "6379"`,
// or anything from os.environ/) become numbers or booleans where the schema wants one.

/** Normalises `data` in place, as the schema reads it. */
export function normalise(data: unknown, schema: SchemaObject): void {
  if (Array.isArray(data)) {
    if (schema.items && typeof schema.items === 'object') {
      data.forEach((item, i) => {
        data[i] = coerce(item, schema.items as SchemaObject);
        normalise(data[i], schema.items as SchemaObject);
      });
    }
    return;
  }
  if (!isMapping(data)) return;
  for (const [key, sub] of Object.entries(propertiesOf(schema))) {
    if (!(key in data)) continue;
    if (data[key] === undefined || (data[key] === null && !sub.keepNull)) {
      delete data[key];
      continue;
    }
    data[key] = coerce(data[key], sub);
    normalise(data[key], sub);
  }
}

function coerce(value: unknown, schema: SchemaObject): unknown {
  if (typeof value !== 'string') return value;
  const t = typeof schema.type === 'string' ? schema.type : undefined;
  if ((t === 'integer' || t === 'number') && /^\s*-?\d+(\.\d+)?\s*$/.test(value)) return Number(value);
  if (t === 'boolean' && /^\s*(true|false)\s*$/i.test(value)) return value.trim().toLowerCase() === 'true';
  return value;
}

// ---------------------------------------------------------------------------------------------
// What is not read: keys of a mapping the schema does not name (unless the mapping is strict, where
// ajv reports them as errors), except those marked `quiet`.

/** Appends to `out` the path of every key in `node` that the schema does not read. */
export function collectIgnored(node: unknown, schema: SchemaObject, segments: string[], out: string[][]): void {
  if (schema.quiet === true || node === null || typeof node !== 'object') return;
  if (Array.isArray(node)) {
    const items = schema.items;
    if (items && typeof items === 'object') node.forEach((item, i) => collectIgnored(item, items as SchemaObject, [...segments, String(i)], out));
    return;
  }
  if (!schema.properties) return;
  const properties = propertiesOf(schema);
  for (const [key, value] of Object.entries(node)) {
    const sub = properties[key];
    if (sub !== undefined) collectIgnored(value, sub, [...segments, key], out);
    else if (schema.additionalProperties !== false) out.push([...segments, key]);
  }
}

// ---------------------------------------------------------------------------------------------
// Where values go: a property with `option` is copied to that option of the current target; a
// mapping with `option` becomes a nested target, a list of mappings a list of targets; a mapping
// without `option` reads into the current target. The first value set for an option wins.

function readsOptions(schema: SchemaObject): boolean {
  const items = schema.items as SchemaObject | undefined;
  if (items && typeof items === 'object' && readsOptions(items)) return true;
  return Object.values(propertiesOf(schema)).some((sub) => sub.option !== undefined || readsOptions(sub));
}

function readInto(node: unknown, schema: SchemaObject, target: Node): void {
  if (!isMapping(node)) return;
  for (const [key, sub] of Object.entries(propertiesOf(schema))) {
    const value = node[key];
    if (value === undefined) continue;
    const option = sub.option as string | undefined;
    if (!readsOptions(sub)) {
      if (option !== undefined && target[option] === undefined) target[option] = structuredClone(value);
    } else if (Array.isArray(value)) {
      if (option !== undefined && target[option] === undefined) {
        target[option] = value.map((item) => {
          const out: Node = {};
          readInto(item, sub.items as SchemaObject, out);
          return out;
        });
      }
    } else if (isMapping(value)) {
      let inner = target;
      if (option !== undefined) {
        if (!isMapping(target[option])) target[option] = {};
        inner = target[option] as Node;
      }
      readInto(value, sub, inner);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The settings read by code rather than by annotation (their values are validated all the same).

/** `router_settings`, as validated by the schema. */
interface RouterSettings {
  routing_strategy?: string;
  num_retries?: number;
}

/** `litellm_settings.cache_params`, as validated by the schema. */
interface CacheParams {
  type?: string;
  host?: string;
  port?: number;
  password?: string;
  username?: string;
  url?: string;
  redis_url?: string;
  db?: number;
  ssl?: boolean;
  redis_startup_nodes?: RedisClusterNode[];
}

/** `responses_polling.cluster`, as validated by the schema. */
interface ClusterSettings {
  nodes: RedisClusterNode[];
  username?: string;
  password?: string;
  ssl?: boolean;
}

/** What {@link readOptions} found besides the options: all of it is warned about, none is fatal. */
export interface ReadingNotes {
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

/** Keeps the deployments that can be served and reached, noting the others by their model_list path. */
function servableDeployments(models: DeploymentOptions[], notes: ReadingNotes): DeploymentOptions[] {
  const kept: DeploymentOptions[] = [];
  models.forEach((d, i) => {
    const read = yamlModel(d.model, d.provider);
    if ('unservable' in read) {
      notes.unservable.push(`model_list[${i}] (model_name "${d.modelName}"): ${read.unservable}`);
      return;
    }
    if (read.inferred) notes.inferred.push({ path: `model_list[${i}]`, model: d.model });
    const { provider } = splitModel(read.model, d.provider);
    // An azure resource root gets its API path appended when the options are resolved.
    if (d.apiBase === undefined && defaultApiBase(provider) === undefined) {
      notes.skipped.push(`model_list[${i}] (model_name "${d.modelName}", provider ${provider})`);
      return;
    }
    kept.push({ ...d, model: read.model });
  });
  return kept;
}

/**
 * Reads a normalised, validated document into options. `problems` receives what only the
 * environment makes wrong (a REDIS_PORT that is not a port), with `file` in front.
 */
export function readOptions(
  doc: unknown,
  schema: SchemaObject,
  file: string,
  env: NodeJS.ProcessEnv,
): { options: ResponsesPollingOptions; notes: ReadingNotes; problems: string[] } {
  const out: Node = {};
  readInto(doc, schema, out);
  const options = out as ResponsesPollingOptions;
  const notes: ReadingNotes = { skipped: [], unservable: [], inferred: [] };
  const problems: string[] = [];
  if (options.models) options.models = servableDeployments(options.models, notes);

  const root = (isMapping(doc) ? doc : {}) as {
    router_settings?: RouterSettings;
    litellm_settings?: { cache_params?: CacheParams };
    responses_polling?: { cluster?: ClusterSettings };
  };
  const router = root.router_settings;
  if (router?.routing_strategy !== undefined) {
    if (router.routing_strategy === 'simple-shuffle' || router.routing_strategy === 'round-robin') {
      options.routingStrategy = router.routing_strategy;
    } else {
      notes.strategy = router.routing_strategy;
    }
  }
  // LiteLLM's num_retries counts retries; the worker counts attempts. An explicit worker setting wins.
  if (router?.num_retries !== undefined && options.worker?.upstreamMaxAttempts === undefined) {
    options.worker = { ...(options.worker ?? {}), upstreamMaxAttempts: router.num_retries + 1 };
  }
  const cache = root.litellm_settings?.cache_params;
  const cluster = root.responses_polling?.cluster;
  if (cluster !== undefined) {
    if (cache?.type === 'redis') {
      problems.push(
        `${file}: responses_polling.cluster and litellm_settings.cache_params (type: redis) both configure Redis. ` +
          'Keep one: responses_polling.cluster for a Redis Cluster, or cache_params (with redis_startup_nodes for a cluster).',
      );
    }
    options.redis = clusterConnection(cluster.nodes, cluster.username, cluster.password, cluster.ssl);
  } else if (cache?.type === 'redis') {
    const redis = redisFromCacheParams(cache, env, file, problems);
    if (redis !== undefined) options.redis = redis;
  }
  return { options, notes, problems };
}

/** The `redis` option of a Redis Cluster, with only the fields that are set. */
function clusterConnection(nodes: RedisClusterNode[], username?: string, password?: string, ssl?: boolean): RedisConnectionOptions {
  const conn: RedisConnectionOptions = { cluster: nodes.map((n) => (typeof n === 'string' ? n : { ...n })) };
  if (username !== undefined) conn.username = username;
  if (password !== undefined) conn.password = password;
  if (ssl !== undefined) conn.tls = ssl;
  return conn;
}

/**
 * `cache_params` of `type: redis` → `options.redis` (a cluster with `redis_startup_nodes`). Like LiteLLM, fields the file leaves out fall
 * back to REDIS_URL, REDIS_HOST, REDIS_PORT, REDIS_USERNAME and REDIS_PASSWORD from the environment;
 * with none at all, the client's default (localhost:6379) is used.
 */
function redisFromCacheParams(
  cache: CacheParams,
  env: NodeJS.ProcessEnv,
  file: string,
  problems: string[],
): string | RedisConnectionOptions | undefined {
  const fromEnv = (name: string) => (env[name] !== undefined && env[name] !== '' ? env[name] : undefined);
  if (cache.redis_startup_nodes !== undefined) {
    // As in LiteLLM, startup nodes make it a cluster; the single-node fields would be ignored there.
    const single = (['url', 'redis_url', 'host', 'port', 'db'] as const).filter((k) => cache[k] !== undefined);
    if (single.length > 0) {
      problems.push(
        `${file}: litellm_settings.cache_params has redis_startup_nodes and ${single.join(', ')}: a Redis Cluster is reached ` +
          `through its startup nodes only (database 0). Remove ${single.join(', ')}, or redis_startup_nodes for a single Redis.`,
      );
    }
    const username = cache.username ?? fromEnv('REDIS_USERNAME');
    const password = cache.password ?? fromEnv('REDIS_PASSWORD');
    return clusterConnection(cache.redis_startup_nodes, username, password, cache.ssl);
  }
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
