// The options a user passes (all optional) and the resolved configuration the parts use.

import type { Request } from 'express';
import type { PrincipalLimits } from '../principal';
import type { Logger, ResponseStore } from '../types';
import type { LimiterStore } from '../limiter/types';
import type { StreamFollowerOptions, WorkerOptions } from './worker-options';

export type { StreamFollowerOptions, WorkerOptions } from './worker-options';

/** The choices of {@link ResponsesPollingOptions.keyParallelLimit}, stated once. */
export const KEY_PARALLEL_LIMITS = ['refuse', 'queue'] as const;

/** What a key at its `maxParallelRequests` does to a polled background create: refuse it (429) or queue it. */
export type KeyParallelLimit = (typeof KEY_PARALLEL_LIMITS)[number];

/** One upstream deployment: a public model name mapped onto a provider model, base URL and key. */
export interface DeploymentOptions {
  /** The model name clients send (`model_name` in LiteLLM's `model_list`). A trailing `*` matches any suffix. */
  modelName: string;
  /**
   * The provider model as `provider/name` (LiteLLM's `litellm_params.model`), for example
   * `openai/gpt-4o-mini`. The part after the first `/` is sent upstream. A `*` is replaced by the
   * part of the requested name that a wildcard `modelName` matched.
   */
  model: string;
  /** Base URL of the OpenAI-compatible API, up to and including `/v1`. Default: OpenAI's for `openai/`. */
  apiBase?: string;
  /** Key sent upstream as `Authorization: Bearer`. Never stored, logged or echoed. */
  apiKey?: string;
  /** Overrides the provider taken from `model` (LiteLLM's `custom_llm_provider`). */
  provider?: string;
  /**
   * Which API the deployment speaks: `responses` (`POST {apiBase}/responses`) or `chat_completions`
   * (`POST {apiBase}/chat/completions`, adapted into Responses events). Default: `chat_completions`
   * for providers known to offer only Chat Completions (see the README), else `responses`.
   */
  upstreamApi?: UpstreamApi;
  /**
   * Azure OpenAI `api-version` (LiteLLM's `api_version`). With it, `azure/` deployments use the
   * versioned paths (`/openai/responses?api-version=…`, `/openai/deployments/{name}/chat/completions?…`);
   * without it, the v1 API (`/openai/v1/…`).
   */
  apiVersion?: string;
  /** Requests per minute this deployment accepts (enforced by the limiter, see the README). */
  rpm?: number;
  /** Tokens per minute this deployment accepts. */
  tpm?: number;
  /**
   * Background responses this deployment runs at once, across every instance (LiteLLM's
   * `litellm_params.max_parallel_requests`): the rest wait `queued` and run as others end.
   * Default: no cap.
   */
  maxParallelRequests?: number;
  /** Price of one input token (LiteLLM's `model_info.input_cost_per_token`), for budgets. Default 0. */
  inputCostPerToken?: number;
  /** Price of one output token (`model_info.output_cost_per_token`), for budgets. Default 0. */
  outputCostPerToken?: number;
}

/** The API a deployment speaks. */
export type UpstreamApi = 'responses' | 'chat_completions';

/**
 * How a request picks among several deployments of one model name (LiteLLM's `routing_strategy`):
 * `simple-shuffle` (a random order per request) or `round-robin` (each instance rotates through them).
 * Deployments over their own `rpm`/`tpm` are skipped either way.
 */
export type RoutingStrategy = 'simple-shuffle' | 'round-robin';

/** What a pre-call hook sees. It runs after authentication and the limiter, before any id exists. */
export interface PreCallHookContext {
  req: import('express').Request;
  principal: import('../principal').Principal;
  /** The validated request body (do not change it). */
  body: Readonly<Record<string, unknown>>;
  model: string;
  /** True when the request will be served by polling (a background response). */
  polling: boolean;
}

/**
 * A guardrail or custom check. Resolve to admit; throw to refuse: an `ApiError` is answered as it
 * is, any error with an HTTP `status` (400–599) and a `message` becomes that answer.
 */
export type PreCallHook = (context: PreCallHookContext) => void | Promise<void>;

/** `litellm_settings.responses.background_mode`. */
export interface BackgroundModeOptions {
  /**
   * Which background requests are served by polling via the store: `"all"`, a list of provider
   * names (`["openai", "azure"]`), or `false` for none. Default `"all"`.
   */
  pollingViaCache?: 'all' | string[] | false;
  /** Model names (exact match with the requested `model`) that use the provider's own background mode. Default `[]`. */
  nativeBackgroundMode?: string[];
  /** Retention of a finished response, in seconds, counted from its terminal state. Default 3600. */
  ttl?: number;
}

/** One startup node of a Redis Cluster: a `redis://` URL, or host and port (default 6379). */
export type RedisClusterNode = string | { host: string; port?: number };

/** How to reach Redis. `url` wins over the separate fields; `cluster` makes it a Redis Cluster. */
export interface RedisConnectionOptions {
  url?: string;
  host?: string;
  port?: number;
  username?: string;
  password?: string;
  /** Database number. Default 0. */
  db?: number;
  /** Connect with TLS (`rediss://`). Default false. */
  tls?: boolean;
  /**
   * Startup nodes of a Redis Cluster (LiteLLM's `redis_startup_nodes`): the store and the limiter
   * connect to the cluster and discover its other nodes. `username`, `password` and `tls` apply to
   * every node; `url`, `host`, `port` and `db` must be left out (a cluster has database 0 only).
   */
  cluster?: RedisClusterNode[];
}

/**
 * What a process does: `all` serves the routes and runs the responses (the default), `api` serves
 * the routes and leaves polled responses `queued` for workers, `worker` runs queued responses
 * (see `responsesWorker`).
 */
export type Role = 'all' | 'api' | 'worker';

/**
 * One virtual key (LiteLLM's `general_settings.virtual_keys[]` here): a key clients send, with its
 * own owner id, limits and allowed models. Give exactly one of `key` and `keyHash`.
 */
export interface VirtualKeyOptions {
  /** The key clients send. Only its SHA-256 digest is kept after the options are resolved. */
  key?: string;
  /** The SHA-256 hex digest of the key (64 hex digits), so the key itself need not be in the configuration. */
  keyHash?: string;
  /**
   * Stable name of the key: its responses are owned by (a hash of) this id, so a key can be
   * rotated without losing them. Default: the first 12 hex digits of the key's SHA-256 digest.
   * `master` and `anonymous` are reserved.
   */
  id?: string;
  /** Requests per minute this key may make. Default: no limit. */
  rpmLimit?: number;
  /** Tokens per minute this key may use. Default: no limit. */
  tpmLimit?: number;
  /** Background responses this key may have running at once. Default: no limit. */
  maxParallelRequests?: number;
  /** Spend limit of this key, in the currency of the model prices. Default: no limit. */
  maxBudget?: number;
  /**
   * How often the key's spend starts again from 0, in LiteLLM's form: a whole number and `s`, `m`,
   * `h` or `d` (`30s`, `30m`, `1h`, `1d`, `30d`). Periods are aligned to the Unix epoch (`1d`
   * resets at 00:00 UTC). Default: the spend never resets.
   */
  budgetDuration?: string;
  /** Model names this key may use (exact, or a trailing `*` for any suffix). Default: every model. */
  models?: string[];
}

/** What an `authenticate(req)` function returns for a caller it recognises. */
export interface HostPrincipal {
  /** Stable name of the caller (a user or service id); responses are owned by a hash of it. Never a key or token. */
  id: string;
  /** An administrator may read, cancel and delete any response. Default false. */
  admin?: boolean;
  limits?: PrincipalLimits;
  /** Model names this caller may use (exact, or a trailing `*`). Default: every model. */
  models?: string[];
}

/**
 * Host-app authentication: the caller's principal, or nothing (`null`/`undefined`) to fall back to
 * the configured keys. A thrown error answers 500 without details.
 */
export type Authenticate = (req: Request) => HostPrincipal | null | undefined | Promise<HostPrincipal | null | undefined>;

/** What `responsesPolling(options)` accepts. Every field is optional. */
export interface ResponsesPollingOptions {
  /** The deployments (LiteLLM's `model_list`). */
  models?: DeploymentOptions[];
  backgroundMode?: BackgroundModeOptions;
  /**
   * The master key (LiteLLM's `general_settings.master_key`): an administrator, who may read,
   * cancel and delete any response. Sent as `Authorization: Bearer <key>` or `api-key: <key>`.
   */
  masterKey?: string;
  /** Keys of ordinary callers, each owning its own responses. Default `[]`. */
  virtualKeys?: VirtualKeyOptions[];
  /**
   * Host-app authentication, tried before the keys: return the caller's principal, or nothing to
   * fall back to `masterKey` / `virtualKeys` (and then 401).
   */
  authenticate?: Authenticate;
  /**
   * `'none'`: no authentication here, because the host app protects the mount point itself; every
   * caller is one anonymous principal. Cannot be combined with keys or `authenticate`. One of
   * these four is required: without any, creating the router throws a `ConfigError`.
   */
  auth?: 'none';
  /** A ready store. When absent: Redis from `redis` or `REDIS_URL`, otherwise the in-memory store. */
  store?: ResponseStore;
  /**
   * Where rate limits, parallel slots and budgets are counted. Default: on the same Redis as the
   * store when `redis` / `REDIS_URL` is configured (shared by every instance), else in memory.
   */
  limiter?: LimiterStore;
  /** Admit requests while the limiter's store is unreachable (fail open). Default false: 503. */
  limiterFailOpen?: boolean;
  /**
   * What a polled background create gets when its key is at its `maxParallelRequests`:
   * `'refuse'` (the default) answers 429 at admission; `'queue'` accepts it as `queued`, and it
   * runs once the key has a free slot (still within `worker.maxQueueMs`). Pass-through and
   * non-background requests are refused either way: they cannot wait. See docs/limits.md.
   */
  keyParallelLimit?: KeyParallelLimit;
  /** Guardrails and custom checks, run in order after the limiter and before any id exists. */
  preCallHooks?: PreCallHook[];
  /** Redis connection, as a URL or fields. Used when `store` is absent. */
  redis?: string | RedisConnectionOptions;
  /** Prefix of every Redis key. Default `"rp:"`. */
  keyPrefix?: string;
  /** Prefix of response ids. Default `"resp_"`. */
  idPrefix?: string;
  /** Largest accepted request body, in bytes. Default 1048576 (1 MiB). */
  maxBodyBytes?: number;
  /**
   * Deepest nesting of objects and arrays accepted in a create body (the body object is level 1).
   * Deeper bodies get a 400 naming the field. Default 64.
   */
  maxJsonDepth?: number;
  worker?: WorkerOptions;
  /** Bounds on event-stream followers (see {@link StreamFollowerOptions}). */
  streamFollowers?: StreamFollowerOptions;
  /**
   * Caps on a conversation expanded inline: when `previous_response_id` names a response whose
   * deployment does not hold it (a Chat Completions deployment, another deployment after
   * failover, an upstream asked not to store it), its earlier turns are sent as input items.
   */
  conversation?: ConversationOptions;
  /**
   * How often (ms) one instance asks providers about unfinished native background responses, so
   * that those nobody polls after they finish are still accounted once. 0: off. Default 30000.
   */
  nativeReconcileIntervalMs?: number;
  /** Where log lines go. Default: warnings and errors as JSON on stderr. */
  logger?: Logger;
  /**
   * Prometheus metrics (prom-client): `true` (the default) registers them on a private registry
   * served by `router.metricsHandler()`; `{ registry, prefix }` registers them on the host's
   * registry and/or renames them; `false` keeps them off the handler (404).
   */
  metrics?: boolean | import('../observability/metrics').MetricsOptions;
  /** Host-app hooks called once per terminal transition (billing, audit). See the README. */
  lifecycleHooks?: import('../observability/lifecycle').LifecycleHooks;
  /** How a request picks among the deployments of one model name. Default `simple-shuffle`. */
  routingStrategy?: RoutingStrategy;
  /**
   * Endpoints that receive a signed event (`response.completed`, `.failed`, `.cancelled`,
   * `.incomplete`) when a polled background response ends, as OpenAI sends them. Default none.
   * See docs/webhooks.md.
   */
  webhooks?: import('../webhooks/types').WebhookOptions[];
  /** Timeouts, retries and bounds of webhook deliveries. */
  webhookDelivery?: import('../webhooks/types').WebhookDeliveryOptions;
  /**
   * `all` (the default): the router also runs queued responses in this process; `api`: it never
   * calls an upstream for a polled response (workers elsewhere do, see `responsesWorker`).
   */
  role?: Role;
}

/** Caps on expanding the earlier turns of a conversation inline (see `conversation`). */
export interface ConversationOptions {
  /** Most earlier turns expanded; a longer chain gets a 400 where no deployment holds it. Default 50. */
  maxTurns?: number;
  /** Most bytes (JSON) of expanded items; more gets a 400 where no deployment holds the chain. Default 1048576. */
  maxBytes?: number;
}

/** A deployment after resolution: provider and upstream model name split out, defaults applied. */
export interface DeploymentConfig {
  modelName: string;
  model: string;
  provider: string;
  /** The name sent upstream (after `provider/`); may hold a `*` for wildcard deployments. */
  upstreamModel: string;
  apiBase: string;
  apiKey: string | undefined;
  upstreamApi: UpstreamApi;
  apiVersion: string | undefined;
  rpm: number | undefined;
  tpm: number | undefined;
  maxParallelRequests?: number;
  inputCostPerToken: number | undefined;
  outputCostPerToken: number | undefined;
}

/** A virtual key after resolution: the digest of the key, never the key itself. */
export interface VirtualKeyConfig {
  id: string;
  /** SHA-256 hex digest of the key (lower case). */
  hash: string;
  limits: PrincipalLimits;
  /** Allowed model names; `undefined`: every model. */
  models: string[] | undefined;
}

/** The resolved configuration: every default applied, the store built. */
export interface ResponsesPollingConfig {
  models: DeploymentConfig[];
  backgroundMode: { pollingViaCache: 'all' | string[] | false; nativeBackgroundMode: string[]; ttl: number };
  /**
   * `required`: a credential (a key, or a principal from `authenticate`) is needed; `none`: the
   * host app protects the mount point (`auth: 'none'`). Without either decision no config is made.
   */
  auth: 'required' | 'none';
  /** SHA-256 hex digest of the master key. */
  masterKeyHash: string | undefined;
  virtualKeys: VirtualKeyConfig[];
  authenticate: Authenticate | undefined;
  store: ResponseStore;
  limiter: LimiterStore;
  /** Whether the package built the limiter (and so must close it). */
  ownsLimiter: boolean;
  limiterFailOpen: boolean;
  keyParallelLimit: KeyParallelLimit;
  preCallHooks: PreCallHook[];
  /** Whether the package built the store (and so must close it). */
  ownsStore: boolean;
  keyPrefix: string;
  idPrefix: string;
  maxBodyBytes: number;
  maxJsonDepth: number;
  worker: Required<WorkerOptions>;
  streamFollowers: Required<StreamFollowerOptions>;
  conversation: Required<ConversationOptions>;
  nativeReconcileIntervalMs: number;
  /** The logger given (or the default), adding `request_id` / `response_id` of the current context to each line. */
  logger: Logger;
  metrics: import('../observability/metrics').ResponsesMetrics;
  lifecycleHooks: import('../observability/lifecycle').LifecycleHooks;
  routingStrategy: RoutingStrategy;
  /** Webhook endpoints (empty: off) and delivery settings. */
  webhooks: import('../webhooks/types').WebhooksConfig;
  role: Role;
}
