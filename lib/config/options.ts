// The options a user passes (all optional) and the resolved configuration the parts use.

import type { Logger, ResponseStore } from '../types';

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
  /** Requests per minute this deployment accepts (enforced by the limiter, see the README). */
  rpm?: number;
  /** Tokens per minute this deployment accepts. */
  tpm?: number;
}

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

/** How to reach Redis. `url` wins over the separate fields. */
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
}

/** Tuning of the streaming worker. */
export interface WorkerOptions {
  /** Longest time an event waits in memory before it is flushed to the store, in ms. Default 50. */
  flushIntervalMs?: number;
  /** A flush happens at once when this many events are waiting. Default 256. */
  flushMaxEvents?: number;
  /** A flush happens at once when the waiting events reach this many bytes. Default 65536. */
  flushMaxBytes?: number;
  /** Lease of a running worker, in ms; the worker renews it at a third of this. Default 15000. */
  leaseMs?: number;
  /** The upstream must answer (headers) within this many ms. Default 30000. */
  upstreamConnectTimeoutMs?: number;
  /** A response fails when the upstream sends nothing for this many ms. Default 120000. */
  upstreamIdleTimeoutMs?: number;
  /**
   * While the store is unreachable a worker keeps its events in memory and retries its flush with
   * backoff for up to this many ms before giving up on the response. Default 30000.
   */
  storeRetryGraceMs?: number;
  /** `close()` lets running responses finish for up to this many ms, then ends them. Default 10000. */
  shutdownGraceMs?: number;
}

/** What `responsesPolling(options)` accepts. Every field is optional. */
export interface ResponsesPollingOptions {
  /** The deployments (LiteLLM's `model_list`). */
  models?: DeploymentOptions[];
  backgroundMode?: BackgroundModeOptions;
  /**
   * The master key (LiteLLM's `general_settings.master_key`). When set, every request needs it
   * (or another accepted key) as `Authorization: Bearer`. When unset, the routes are open: only
   * for a mount point the host app already protects.
   */
  masterKey?: string;
  /** A ready store. When absent: Redis from `redis` or `REDIS_URL`, otherwise the in-memory store. */
  store?: ResponseStore;
  /** Redis connection, as a URL or fields. Used when `store` is absent. */
  redis?: string | RedisConnectionOptions;
  /** Prefix of every Redis key. Default `"rp:"`. */
  keyPrefix?: string;
  /** Prefix of response ids. Default `"resp_"`. */
  idPrefix?: string;
  /** Largest accepted request body, in bytes. Default 1048576 (1 MiB). */
  maxBodyBytes?: number;
  worker?: WorkerOptions;
  /** Where log lines go. Default: warnings and errors as JSON on stderr. */
  logger?: Logger;
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
  rpm: number | undefined;
  tpm: number | undefined;
}

/** The resolved configuration: every default applied, the store built. */
export interface ResponsesPollingConfig {
  models: DeploymentConfig[];
  backgroundMode: { pollingViaCache: 'all' | string[] | false; nativeBackgroundMode: string[]; ttl: number };
  masterKey: string | undefined;
  store: ResponseStore;
  /** Whether the package built the store (and so must close it). */
  ownsStore: boolean;
  keyPrefix: string;
  idPrefix: string;
  maxBodyBytes: number;
  worker: Required<WorkerOptions>;
  logger: Logger;
}
