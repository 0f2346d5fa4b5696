// Building blocks of the two configuration schemas (options and LiteLLM YAML), stated once: each
// takes the naming, so a YAML property carries its snake_case name and the option it is read into.

import type { SchemaObject } from 'ajv';
import type { ConfigNaming } from './format-errors';
import { KEY_PARALLEL_LIMITS } from './options';
import { WEBHOOK_EVENT_TYPES } from '../webhooks/types';

/**
 * A property under its option name, or (YAML) under its snake_case name with `option` saying which
 * option it is read into (relative to the enclosing object that has an `option`).
 */
export function prop(n: ConfigNaming, camel: string, snake: string, schema: SchemaObject): [string, SchemaObject] {
  return n === 'yaml' ? [snake, { ...schema, option: camel }] : [camel, schema];
}

/** {@link prop} for a name that is the same in both namings (`ttl`, `models`). */
export function same(n: ConfigNaming, name: string, schema: SchemaObject): [string, SchemaObject] {
  return prop(n, name, name, schema);
}

/** A whole number of at least 1, with its fix. */
export const posInt = (fix: string): SchemaObject => ({ type: 'integer', minimum: 1, fix });

/** A duration in LiteLLM's form (`budget_duration`): a whole number of seconds, minutes, hours or days. */
export const DURATION_PATTERN = '^[1-9][0-9]{0,8}[smhd]$';
const DURATION_UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** The ms of a duration matching {@link DURATION_PATTERN} (`30d` → 2592000000). */
export function durationMs(text: string): number {
  return Number(text.slice(0, -1)) * DURATION_UNIT_MS[text.slice(-1)];
}
const ms = (minimum: number, hint: string): SchemaObject => ({ type: 'integer', minimum, fix: `Set it to a whole number of milliseconds ${hint}` });

/** Fix of a requests-per-minute limit. */
export const RPM_FIX = 'Set it to a whole number of requests per minute, e.g. 500';
/** Fix of a tokens-per-minute limit. */
export const TPM_FIX = 'Set it to a whole number of tokens per minute, e.g. 100000';
/** Fix of a deployment's base URL. */
export const API_BASE_FIX = 'Write the base URL up to and including /v1, e.g. "https://api.openai.com/v1"';

/** A model name as clients send it; a `*` only at the end. */
export const MODEL_NAME: SchemaObject = {
  type: 'string',
  minLength: 1,
  pattern: '^[^*]*\\*?$',
  fix: 'Set it to the name clients send, e.g. "gpt-4o-mini"; a * is allowed only at the end, as a wildcard',
};

/** The API a deployment speaks, under the property name `name`. */
export const upstreamApiSchema = (name: string): SchemaObject => ({
  enum: ['responses', 'chat_completions'],
  fix: `Write ${name}: chat_completions for a server that offers only /chat/completions, or responses`,
});

/** An Azure OpenAI api-version. */
export const API_VERSION: SchemaObject = {
  type: 'string',
  minLength: 1,
  pattern: '^[A-Za-z0-9._-]+$',
  fix: 'Set it to an Azure OpenAI api-version such as "2025-04-01-preview", or leave it out to use the v1 API',
};

/** An OpenAI-compatible base URL. */
export const API_BASE: SchemaObject = { type: 'string', check: 'httpUrl', fix: API_BASE_FIX };

/** A provider name (`custom_llm_provider`). */
export const PROVIDER: SchemaObject = { type: 'string', minLength: 1, pattern: '^[^/\\s]+$', fix: 'Set it to a provider name such as "openai"' };

/** The price of one input token. */
export const INPUT_COST: SchemaObject = { type: 'number', minimum: 0, fix: 'Set it to the price of one input token, e.g. 0.00000015' };
/** The price of one output token. */
export const OUTPUT_COST: SchemaObject = { type: 'number', minimum: 0, fix: 'Set it to the price of one output token, e.g. 0.0000006' };

/** A Prometheus metric name prefix. */
export const METRICS_PREFIX: SchemaObject = {
  type: 'string',
  pattern: '^[a-zA-Z_:][a-zA-Z0-9_:]*$',
  fix: 'Write a Prometheus name prefix such as "llm_responses_" (letters, digits, _ and :)',
};

function redisHostSchema(): SchemaObject {
  return { type: 'string', minLength: 1, fix: 'Set host to the Redis host name' };
}
function redisPortSchema(): SchemaObject {
  return { type: 'integer', minimum: 1, maximum: 65535, fix: 'Set port to a number from 1 to 65535, e.g. 6379' };
}

/** The fields of a Redis connection that both namings spell alike. */
export const REDIS_FIELDS: Record<string, SchemaObject> = {
  host: redisHostSchema(),
  port: redisPortSchema(),
  username: { type: 'string', fix: 'Set username to a string' },
  db: { type: 'integer', minimum: 0, fix: 'Set db to a database number, e.g. 0' },
};

/** Startup nodes of a Redis Cluster: URLs, or host and port. */
export const CLUSTER_NODES: SchemaObject = {
  type: 'array',
  minItems: 1,
  items: {
    // One schema for both forms, as for the redis option: `check` looks at strings only,
    // `required` and `properties` at mappings only.
    type: ['string', 'object'],
    check: 'redisUrl',
    secret: true,
    required: ['host'],
    additionalProperties: false,
    properties: { host: redisHostSchema(), port: redisPortSchema() },
    fix: 'Write each node as a URL such as "redis://10.0.0.1:6379" or as { host: 10.0.0.1, port: 6379 }',
  },
  fix: 'Write a list of startup nodes such as ["redis://10.0.0.1:6379", "redis://10.0.0.2:6379"]',
};

/** A redis:// or rediss:// URL (may hold a password). */
export const REDIS_URL: SchemaObject = { type: 'string', check: 'redisUrl', secret: true, fix: 'Write a URL such as "redis://localhost:6379"' };

function pollingViaCacheSchema(n: ConfigNaming): SchemaObject {
  const key = n === 'yaml' ? 'polling_via_cache: "all"' : "pollingViaCache: 'all'";
  return {
    check: 'pollingNotTrue',
    keepNull: true,
    anyOf: [{ const: 'all' }, { type: 'array', items: { type: 'string', minLength: 1 } }, { const: false }],
    fix: `Write ${key} to poll every model, or a list of providers such as ["openai", "azure"]; false turns polling off`,
  };
}

/** `backgroundMode` (options) or `litellm_settings.responses.background_mode` (YAML). */
export function backgroundModeSchema(n: ConfigNaming): SchemaObject {
  return {
    type: 'object',
    additionalProperties: n === 'yaml',
    properties: Object.fromEntries([
      prop(n, 'pollingViaCache', 'polling_via_cache', pollingViaCacheSchema(n)),
      prop(n, 'nativeBackgroundMode', 'native_background_mode', {
        type: 'array',
        items: { type: 'string', minLength: 1, fix: 'Each entry is a model name exactly as clients send it' },
        fix: 'Write a list of model names, e.g. ["o3-deep-research"]',
      }),
      same(n, 'ttl', posInt('Set ttl to the retention in whole seconds, e.g. 3600')),
    ]),
    fix: 'Write an object with pollingViaCache, nativeBackgroundMode and ttl',
  };
}

function workerSchema(n: ConfigNaming): SchemaObject {
  return {
    type: 'object',
    additionalProperties: false,
    properties: Object.fromEntries([
      prop(n, 'flushIntervalMs', 'flush_interval_ms', { ...ms(0, 'from 0 to 1000, e.g. 50'), maximum: 1000 }),
      prop(n, 'flushMaxEvents', 'flush_max_events', posInt('Set it to a whole number of events, e.g. 256')),
      prop(n, 'flushMaxBytes', 'flush_max_bytes', posInt('Set it to a whole number of bytes, e.g. 65536')),
      prop(n, 'leaseMs', 'lease_ms', ms(1000, 'of at least 1000, e.g. 60000')),
      prop(n, 'upstreamConnectTimeoutMs', 'upstream_connect_timeout_ms', ms(1, 'e.g. 30000')),
      prop(n, 'upstreamIdleTimeoutMs', 'upstream_idle_timeout_ms', ms(1, 'e.g. 120000')),
      prop(n, 'storeRetryGraceMs', 'store_retry_grace_ms', ms(0, 'e.g. 30000')),
      prop(n, 'recoveryLogBytes', 'recovery_log_bytes', { type: 'integer', minimum: 0, fix: 'Set it to a whole number of bytes, e.g. 1048576 (0: no copy)' }),
      prop(n, 'shutdownGraceMs', 'shutdown_grace_ms', ms(0, 'e.g. 10000')),
      prop(n, 'upstreamMaxAttempts', 'upstream_max_attempts', {
        ...posInt('Set it to a whole number of attempts from 1 to 10, e.g. 3 (1: no retry)'),
        maximum: 10,
      }),
      prop(n, 'upstreamRetryBaseMs', 'upstream_retry_base_ms', { ...ms(0, 'from 0 to 10000, e.g. 250'), maximum: 10000 }),
      prop(n, 'maxResponseBytes', 'max_response_bytes', posInt('Set it to a whole number of bytes, e.g. 33554432')),
      prop(n, 'maxResponseEvents', 'max_response_events', posInt('Set it to a whole number of events, e.g. 200000')),
      prop(n, 'maxResponseMs', 'max_response_ms', ms(1, 'e.g. 3600000')),
      prop(n, 'maxEventBytes', 'max_event_bytes', posInt('Set it to a whole number of bytes, e.g. 16777216')),
      same(n, 'concurrency', posInt('Set it to a whole number of responses this process runs at once, e.g. 64')),
      prop(n, 'maxQueueMs', 'max_queue_ms', ms(0, 'e.g. 600000 (0: no limit)')),
      prop(n, 'maxClaimAttempts', 'max_claim_attempts', { ...posInt('Set it to a whole number of claims from 1 to 10, e.g. 3'), maximum: 10 }),
      prop(n, 'claimIntervalMs', 'claim_interval_ms', { ...ms(10, 'from 10 to 10000, e.g. 200'), maximum: 10000 }),
      prop(n, 'maxQueued', 'max_queued', { type: 'integer', minimum: 0, fix: 'Set it to a whole number of responses, e.g. 100000 (0: no bound)' }),
    ]),
    fix: 'Write an object of worker settings',
  };
}

/** The caps on expanding a conversation inline for a deployment that does not hold its earlier turns. */
function conversationSchema(n: ConfigNaming): SchemaObject {
  return {
    type: 'object',
    additionalProperties: false,
    properties: Object.fromEntries([
      prop(n, 'maxTurns', 'max_turns', posInt('Set it to a whole number of earlier turns, e.g. 50')),
      prop(n, 'maxBytes', 'max_bytes', posInt('Set it to a whole number of bytes of expanded items, e.g. 1048576')),
    ]),
    fix: 'Write an object with maxTurns and maxBytes',
  };
}

/** `webhooks` (options and `responses_polling`): the endpoints terminal events are sent to. */
function webhooksSchema(n: ConfigNaming): SchemaObject {
  return {
    type: 'array',
    fix: n === 'yaml'
      ? 'Write a list of endpoints such as [{ url: "https://hooks.example.com/openai", secret: os.environ/WEBHOOK_SECRET }]'
      : 'Write a list of endpoints such as [{ url: "https://hooks.example.com/openai", secret: process.env.WEBHOOK_SECRET }]',
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['url', 'secret'],
      fix: 'Give each webhook a url and a secret (whsec_…), and optionally events',
      properties: {
        url: { type: 'string', check: 'httpUrl', fix: 'Write the http(s) URL events are POSTed to, e.g. "https://hooks.example.com/openai"' },
        secret: {
          type: 'string',
          pattern: '^whsec_[A-Za-z0-9+/]{16,}={0,2}$',
          secret: true,
          fix: `Set secret to whsec_ followed by base64 (generate one with: echo whsec_$(openssl rand -base64 32))${n === 'yaml' ? ', or os.environ/NAME' : ''}`,
        },
        events: {
          type: 'array',
          minItems: 1,
          uniqueItems: true,
          items: { enum: [...WEBHOOK_EVENT_TYPES] },
          fix: `List event types among ${WEBHOOK_EVENT_TYPES.join(', ')}; leave events out to send all four`,
        },
      },
    },
  };
}

/** `webhookDelivery` (options) or `webhook_delivery` (YAML): timeouts, retries and bounds of deliveries. */
function webhookDeliverySchema(n: ConfigNaming): SchemaObject {
  return {
    type: 'object',
    additionalProperties: false,
    properties: Object.fromEntries([
      prop(n, 'timeoutMs', 'timeout_ms', ms(1, 'e.g. 10000')),
      prop(n, 'retryForMs', 'retry_for_ms', ms(0, 'e.g. 86400000 (24 h)')),
      prop(n, 'backoffBaseMs', 'backoff_base_ms', ms(1, 'e.g. 5000')),
      prop(n, 'backoffMaxMs', 'backoff_max_ms', ms(1, 'e.g. 3600000')),
      prop(n, 'maxPending', 'max_pending', posInt('Set it to a whole number of deliveries, e.g. 10000')),
      prop(n, 'concurrency', 'concurrency', { ...posInt('Set it to a whole number of deliveries at once, from 1 to 256, e.g. 8'), maximum: 256 }),
      prop(n, 'pollIntervalMs', 'poll_interval_ms', ms(10, 'of at least 10, e.g. 1000')),
    ]),
    fix: 'Write an object of webhook delivery settings',
  };
}

function streamFollowersSchema(n: ConfigNaming): SchemaObject {
  return {
    type: 'object',
    additionalProperties: false,
    properties: Object.fromEntries([
      prop(n, 'maxPerResponse', 'max_per_response', posInt('Set it to a whole number of followers, e.g. 100')),
      prop(n, 'maxPerPrincipal', 'max_per_principal', posInt('Set it to a whole number of followers, e.g. 1000')),
      prop(n, 'stallTimeoutMs', 'stall_timeout_ms', ms(1, 'e.g. 30000')),
      prop(n, 'pageEvents', 'page_events', { ...posInt('Set it to a whole number of log entries from 1 to 10000, e.g. 500'), maximum: 10000 }),
      prop(n, 'pageBytes', 'page_bytes', { ...posInt('Set it to a whole number of bytes of at least 1024, e.g. 262144'), minimum: 1024 }),
    ]),
    fix: 'Write an object of stream follower settings',
  };
}

/** Key and id prefixes, the body limit and the worker tuning (top level, or `responses_polling`). */
export function tuningProperties(n: ConfigNaming): Record<string, SchemaObject> {
  return Object.fromEntries([
    prop(n, 'keyPrefix', 'key_prefix', {
      type: 'string',
      maxLength: 64,
      pattern: '^[^{}\\s]*$',
      fix: 'Use a short prefix without spaces or braces (braces would break the Redis Cluster hash tag), e.g. "rp:"',
    }),
    prop(n, 'idPrefix', 'id_prefix', {
      type: 'string',
      minLength: 1,
      maxLength: 32,
      pattern: '^[A-Za-z0-9_-]+$',
      fix: 'Use 1 to 32 letters, digits, _ or -, e.g. "resp_"',
    }),
    prop(n, 'maxBodyBytes', 'max_body_bytes', posInt('Set it to a whole number of bytes, e.g. 1048576')),
    prop(n, 'maxJsonDepth', 'max_json_depth', posInt('Set it to a whole number of nesting levels, e.g. 64')),
    same(n, 'worker', workerSchema(n)),
    same(n, 'webhooks', webhooksSchema(n)),
    prop(n, 'webhookDelivery', 'webhook_delivery', webhookDeliverySchema(n)),
    same(n, 'conversation', conversationSchema(n)),
    prop(n, 'nativeReconcileIntervalMs', 'native_reconcile_interval_ms', ms(0, 'e.g. 30000 (0 turns the native reconciler off)')),
    prop(n, 'streamFollowers', 'stream_followers', streamFollowersSchema(n)),
    prop(n, 'keyParallelLimit', 'key_parallel_limit', {
      enum: [...KEY_PARALLEL_LIMITS],
      fix: 'Write "refuse" (the default: a key at its max_parallel_requests gets 429) or "queue" (its polled background creates wait queued for a free slot)',
    }),
  ]);
}

/** One entry of `virtualKeys` (options) or `general_settings.virtual_keys` (YAML). */
export function virtualKeySchema(n: ConfigNaming): SchemaObject {
  const y = n === 'yaml';
  const name: SchemaObject = {
    type: 'string',
    minLength: 1,
    maxLength: 128,
    fix: 'Set it to a stable name for the key, e.g. "team-a" (its responses are owned by this name)',
  };
  return {
    type: 'object',
    additionalProperties: false,
    check: y ? 'oneKeyYaml' : 'oneKeyOptions',
    fix: y
      ? 'Give each entry exactly one of key (the key clients send, or os.environ/NAME) and key_hash (its SHA-256 hex digest)'
      : 'Give each entry exactly one of key (the key clients send) and keyHash (its SHA-256 hex digest)',
    properties: Object.fromEntries([
      same(n, 'key', {
        type: 'string',
        minLength: 1,
        secret: true,
        fix: y ? 'Set key to the key clients send, or os.environ/NAME' : 'Set key to the key clients send, as a string',
      }),
      prop(n, 'keyHash', 'key_hash', {
        type: 'string',
        pattern: '^[0-9a-fA-F]{64}$',
        secret: true,
        fix: 'Write the SHA-256 digest of the key as 64 hex digits (e.g. the output of: printf %s "$KEY" | sha256sum)',
      }),
      same(n, 'id', name),
      // LiteLLM names a key by key_alias; both are read into id (the check refuses both at once).
      ...(y ? [prop(n, 'id', 'key_alias', name)] : []),
      prop(n, 'rpmLimit', 'rpm_limit', posInt(RPM_FIX)),
      prop(n, 'tpmLimit', 'tpm_limit', posInt(TPM_FIX)),
      prop(n, 'maxParallelRequests', 'max_parallel_requests', posInt('Set it to a whole number of running background responses, e.g. 5')),
      prop(n, 'maxBudget', 'max_budget', { type: 'number', minimum: 0, fix: 'Set it to the spend limit as a number, e.g. 10.5' }),
      prop(n, 'budgetDuration', 'budget_duration', {
        type: 'string',
        pattern: DURATION_PATTERN,
        fix: 'Write a whole number and s, m, h or d, e.g. "30d" (the spend starts again from 0 every 30 days)',
      }),
      same(n, 'models', {
        type: 'array',
        minItems: 1,
        items: MODEL_NAME,
        fix: 'List the model names this key may use, e.g. ["gpt-4o-mini"]; leave models out to allow every model',
      }),
    ]),
  };
}
