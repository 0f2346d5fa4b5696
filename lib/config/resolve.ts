// Turns the options a user passes into the complete configuration the parts use: validated once,
// defaults applied, deployments split into provider and upstream model, the store built.

import { ConfigError, WARNING_CODES } from '../errors';
import { createStderrLogger } from '../logger';
import { ResponsesMetrics } from '../observability/metrics';
import { withLogContext } from '../observability/request-id';
import { MemoryStore } from '../store/memory-store';
import { createRedisStore } from '../store/redis-store';
import { createRedisLimiter } from '../limiter/redis-limiter';
import { MemoryLimiter } from '../limiter/memory-limiter';
import { lazyLimiter } from '../limiter/lazy-limiter';
import type { LimiterStore } from '../limiter/types';
import type { Logger, ResponseStore } from '../types';
import type {
  DeploymentConfig,
  DeploymentOptions,
  ResponsesPollingConfig,
  ResponsesPollingOptions,
  StreamFollowerOptions,
  VirtualKeyConfig,
  WorkerOptions,
} from './options';
import { authDecisionProblems, authProblems, resolveAuth } from './resolve-auth';
import { CHAT_COMPLETIONS_PROVIDERS, defaultApiBase, splitModel } from './routing';
import { anyModelPatternMatches, isWildcard } from './model-pattern';
import { validateOptions } from './options-schema';
import { resolveWebhooks } from '../webhooks/resolve';
import { clusterProblems, redisChoice } from './redis-choice';

/** The defaults, in one place (the option TSDoc in options.ts states the same values). */
export const DEFAULTS = {
  pollingViaCache: 'all' as const,
  ttl: 3600,
  keyPrefix: 'rp:',
  idPrefix: 'resp_',
  maxBodyBytes: 1_048_576,
  maxJsonDepth: 64,
  conversation: { maxTurns: 50, maxBytes: 1_048_576 },
  nativeReconcileIntervalMs: 30_000,
  keyParallelLimit: 'refuse' as const,
  worker: {
    flushIntervalMs: 100,
    flushMaxEvents: 256,
    flushMaxBytes: 65_536,
    leaseMs: 60_000,
    upstreamConnectTimeoutMs: 30_000,
    upstreamIdleTimeoutMs: 120_000,
    storeRetryGraceMs: 30_000,
    recoveryLogBytes: 1_048_576,
    shutdownGraceMs: 10_000,
    upstreamMaxAttempts: 3,
    upstreamRetryBaseMs: 250,
    maxResponseBytes: 33_554_432,
    maxResponseEvents: 200_000,
    maxResponseMs: 3_600_000,
    maxEventBytes: 16_777_216,
    concurrency: 1024,
    maxQueueMs: 600_000,
    maxClaimAttempts: 3,
    claimIntervalMs: 200,
    maxQueued: 100_000,
  } satisfies Required<WorkerOptions>,
  streamFollowers: {
    maxPerResponse: 100,
    maxPerPrincipal: 1000,
    stallTimeoutMs: 30_000,
    pageEvents: 500,
    pageBytes: 262_144,
  } satisfies Required<StreamFollowerOptions>,
  routingStrategy: 'simple-shuffle' as const,
};

/**
 * Validates `options` and resolves them into a {@link ResponsesPollingConfig}. Throws one
 * `ConfigError` that lists every problem (path and fix). `env` supplies `REDIS_URL`.
 * Never puts a key or password into a message.
 */
export function resolveOptions(options: ResponsesPollingOptions = {}, env: NodeJS.ProcessEnv = process.env): ResponsesPollingConfig {
  const problems = validateOptions(options);
  // Semantic checks run even when the schema found problems, so the user sees everything at once;
  // each is defensive about the shapes the schema has already reported.
  const models = Array.isArray(options.models) ? options.models.map((d, i) => resolveDeployment(d, i, problems)) : [];
  const envRedisUrl = env.REDIS_URL && env.REDIS_URL.trim() !== '' ? env.REDIS_URL.trim() : undefined;
  if (!options.store && options.redis === undefined && envRedisUrl !== undefined && !/^rediss?:\/\//i.test(envRedisUrl)) {
    problems.push(
      'REDIS_URL (environment) is not a redis:// or rediss:// URL. Set it to a URL such as redis://localhost:6379, or pass redis in the options.',
    );
  }
  problems.push(...authProblems(options, 'options'), ...authDecisionProblems(options));
  problems.push(...leaseProblems(options.worker), ...clusterProblems(options.redis, 'redis'));
  if (problems.length > 0) throw new ConfigError(problems);

  const logger: Logger = options.logger ?? createStderrLogger();
  const bm = options.backgroundMode ?? {};
  const backgroundMode = {
    pollingViaCache: bm.pollingViaCache === undefined ? DEFAULTS.pollingViaCache : copyPolling(bm.pollingViaCache),
    nativeBackgroundMode: [...(bm.nativeBackgroundMode ?? [])],
    ttl: bm.ttl ?? DEFAULTS.ttl,
  };
  const keyPrefix = options.keyPrefix ?? DEFAULTS.keyPrefix;
  const auth = resolveAuth(options);
  warnAboutUnreachableSettings(models, backgroundMode, auth.virtualKeys, logger);

  const { store, ownsStore } = buildStore(options, envRedisUrl, keyPrefix, logger);
  const { limiter, ownsLimiter } = buildLimiter(options, envRedisUrl, keyPrefix, logger);
  return {
    models: models.filter((d): d is DeploymentConfig => d !== undefined),
    backgroundMode,
    ...auth,
    store,
    ownsStore,
    limiter,
    ownsLimiter,
    limiterFailOpen: options.limiterFailOpen ?? false,
    keyParallelLimit: options.keyParallelLimit ?? DEFAULTS.keyParallelLimit,
    preCallHooks: [...(options.preCallHooks ?? [])],
    keyPrefix,
    idPrefix: options.idPrefix ?? DEFAULTS.idPrefix,
    maxBodyBytes: options.maxBodyBytes ?? DEFAULTS.maxBodyBytes,
    maxJsonDepth: options.maxJsonDepth ?? DEFAULTS.maxJsonDepth,
    worker: { ...DEFAULTS.worker, ...definedOnly(options.worker ?? {}) } as Required<WorkerOptions>,
    streamFollowers: { ...DEFAULTS.streamFollowers, ...definedOnly(options.streamFollowers ?? {}) },
    conversation: { ...DEFAULTS.conversation, ...definedOnly(options.conversation ?? {}) },
    nativeReconcileIntervalMs: options.nativeReconcileIntervalMs ?? DEFAULTS.nativeReconcileIntervalMs,
    // Stores keep the plain logger: their outage lines belong to no request.
    logger: withLogContext(logger),
    metrics: new ResponsesMetrics(typeof options.metrics === 'object' ? options.metrics : {}, options.metrics !== false),
    lifecycleHooks: { ...(options.lifecycleHooks ?? {}) },
    routingStrategy: options.routingStrategy ?? DEFAULTS.routingStrategy,
    webhooks: resolveWebhooks(options.webhooks, options.webhookDelivery),
    role: options.role ?? 'all',
  };
}

/**
 * A worker renews its lease at least every quarter lease, and may wait out a store outage for
 * storeRetryGraceMs (plus one backoff step of up to 2 s). It must still hold its lease when the
 * store returns, or the first reader would mark its response worker_lost.
 */
function leaseProblems(worker: WorkerOptions | undefined): string[] {
  const leaseMs = worker?.leaseMs ?? DEFAULTS.worker.leaseMs;
  const graceMs = worker?.storeRetryGraceMs ?? DEFAULTS.worker.storeRetryGraceMs;
  // Out-of-range values are reported by the schema already.
  if (typeof leaseMs !== 'number' || typeof graceMs !== 'number' || leaseMs < 1000 || graceMs < 0) return [];
  if (graceMs + 2000 <= leaseMs * 0.75) return [];
  return [
    `worker.storeRetryGraceMs (${graceMs}) must be at most 75% of worker.leaseMs (${leaseMs}) minus 2000: a worker that waits out ` +
      `a store outage must still hold its lease when the store returns. Raise leaseMs to at least ${Math.ceil(((graceMs + 2000) / 0.75) / 1000) * 1000} or lower storeRetryGraceMs.`,
  ];
}

function copyPolling(value: 'all' | string[] | false): 'all' | string[] | false {
  return Array.isArray(value) ? [...value] : value;
}

function definedOnly<T extends object>(obj: T): Partial<T> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function resolveDeployment(d: DeploymentOptions, index: number, problems: string[]): DeploymentConfig | undefined {
  if (!d || typeof d !== 'object' || typeof d.model !== 'string' || d.model === '') return undefined;
  const explicit = typeof d.provider === 'string' && d.provider !== '' ? d.provider : undefined;
  if (!explicit && d.model.indexOf('/') <= 0) return undefined; // reported by the schema
  const { provider, upstreamModel } = splitModel(d.model, explicit);
  let apiBase = typeof d.apiBase === 'string' && d.apiBase !== '' ? d.apiBase : defaultApiBase(provider);
  if (apiBase === undefined) {
    const name = typeof d.modelName === 'string' ? ` (modelName "${d.modelName}")` : '';
    problems.push(
      `models[${index}].apiBase${name} is required for provider "${provider}": only openai has a default. ` +
        'Set apiBase to the OpenAI-compatible base URL of the provider, up to and including /v1 (e.g. "https://gateway.example.com/v1").',
    );
    return undefined;
  }
  // `${apiBase}/responses` is built by the upstream client; a trailing slash would double it.
  apiBase = apiBase.replace(/\/+$/, '');
  const apiVersion = typeof d.apiVersion === 'string' && d.apiVersion !== '' ? d.apiVersion : undefined;
  if (provider === 'azure') apiBase = azureApiBase(apiBase, apiVersion);
  return {
    modelName: d.modelName,
    model: d.model,
    provider,
    upstreamModel,
    apiBase,
    apiKey: d.apiKey,
    upstreamApi: d.upstreamApi ?? (CHAT_COMPLETIONS_PROVIDERS.includes(provider) ? 'chat_completions' : 'responses'),
    apiVersion,
    rpm: d.rpm,
    tpm: d.tpm,
    maxParallelRequests: d.maxParallelRequests,
    inputCostPerToken: d.inputCostPerToken,
    outputCostPerToken: d.outputCostPerToken,
  };
}

/**
 * An Azure resource root (`https://x.openai.azure.com`) becomes the base its APIs live under:
 * `/openai/v1` (the v1 API) without an `api-version`, `/openai` (the versioned paths) with one.
 * A base with a path is taken as written.
 */
function azureApiBase(apiBase: string, apiVersion: string | undefined): string {
  try {
    const url = new URL(apiBase);
    if (url.pathname === '' || url.pathname === '/') return `${url.origin}${apiVersion ? '/openai' : '/openai/v1'}`;
  } catch {
    // Not a URL: the schema has reported it already.
  }
  return apiBase;
}

/** Settings that are valid but can never take effect: most likely typos, so they are warned about. */
function warnAboutUnreachableSettings(
  models: (DeploymentConfig | undefined)[],
  backgroundMode: ResponsesPollingConfig['backgroundMode'],
  virtualKeys: VirtualKeyConfig[],
  logger: Logger,
): void {
  const deployments = models.filter((d): d is DeploymentConfig => d !== undefined);
  if (deployments.length === 0) return;
  const providers = new Set(deployments.map((d) => d.provider));
  if (Array.isArray(backgroundMode.pollingViaCache)) {
    const unknown = backgroundMode.pollingViaCache.filter((p) => !providers.has(p));
    if (unknown.length > 0) {
      logger.warn('backgroundMode.pollingViaCache names providers that no deployment uses; requests for them are never polled.', {
        code: WARNING_CODES.pollingProviderUnused,
        providers: unknown,
        configuredProviders: [...providers],
      });
    }
  }
  const names = deployments.map((d) => d.modelName);
  const served = (m: string) => anyModelPatternMatches(names, m);
  const unmatched = backgroundMode.nativeBackgroundMode.filter((m) => !served(m));
  if (unmatched.length > 0) {
    logger.warn('backgroundMode.nativeBackgroundMode names models that match no deployment (the match is exact, as in LiteLLM).', {
      code: WARNING_CODES.nativeModelUnmatched,
      models: unmatched,
    });
  }
  // A key's allowed model that no deployment serves can never be used: most likely a typo.
  for (const vk of virtualKeys) {
    const unserved = (vk.models ?? []).filter((m) => !isWildcard(m) && !served(m));
    if (unserved.length > 0) {
      logger.warn('a virtual key allows models that match no deployment; requests for them fail with model_not_found.', {
        code: WARNING_CODES.virtualKeyModelUnserved,
        keyId: vk.id,
        models: unserved,
      });
    }
  }
}

/**
 * The limiter's store: the one given, else one on the same Redis as the response store (limits
 * shared by every instance), else in memory (limits per process). Connects lazily: a deployment
 * without limits never calls it.
 */
function buildLimiter(
  options: ResponsesPollingOptions,
  envRedisUrl: string | undefined,
  keyPrefix: string,
  logger: Logger,
): { limiter: LimiterStore; ownsLimiter: boolean } {
  if (options.limiter) return { limiter: options.limiter, ownsLimiter: false };
  const redis = options.redis ?? (options.store ? undefined : envRedisUrl);
  if (redis !== undefined) {
    const choice = redisChoice(redis);
    return { limiter: lazyLimiter(() => createRedisLimiter({ ...choice, keyPrefix, logger })), ownsLimiter: true };
  }
  const limitsConfigured =
    (options.models ?? []).some((d) => d && (d.rpm !== undefined || d.tpm !== undefined)) ||
    (options.virtualKeys ?? []).some((k) => k && (k.rpmLimit !== undefined || k.tpmLimit !== undefined || k.maxParallelRequests !== undefined || k.maxBudget !== undefined));
  if (limitsConfigured && options.store && !(options.store instanceof MemoryStore)) {
    logger.warn(
      'A store was given without a limiter: rate limits, parallel slots and budgets are counted per process. Pass limiter: createRedisLimiter({...}) to share them.',
      { code: WARNING_CODES.limiterPerProcess },
    );
  }
  return { limiter: new MemoryLimiter(), ownsLimiter: true };
}

function buildStore(
  options: ResponsesPollingOptions,
  envRedisUrl: string | undefined,
  keyPrefix: string,
  logger: Logger,
): { store: ResponseStore; ownsStore: boolean } {
  if (options.store) return { store: options.store, ownsStore: false };
  const redis = options.redis ?? envRedisUrl;
  if (redis !== undefined) return { store: createRedisStore({ ...redisChoice(redis), keyPrefix, logger }), ownsStore: true };
  logger.warn(
    'No Redis configured: using the in-memory store, which serves a single process only ' +
      '(responses are lost on restart and not visible to other instances). For production, pass ' +
      "redis: 'redis://host:6379' (or a store), set REDIS_URL, or in YAML set litellm_settings.cache_params " +
      'to type: redis with host and port.',
    { code: WARNING_CODES.memoryStore },
  );
  return { store: new MemoryStore({ logger }), ownsStore: true };
}
