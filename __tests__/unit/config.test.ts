// resolveOptions: validation with paths and fixes, defaults, deployments, and the choice of store.

import { createHash } from 'node:crypto';
import { ConfigError } from '../../lib/errors';
import type { ResponsesPollingOptions } from '../../lib/config/options';
import { resolveOptions } from '../../lib/config/resolve';
import { withAuthChoice } from '../helpers/app';
import { NO_AUTH_DECISION } from '../../lib/config/resolve-auth';
import { shouldUsePolling } from '../../lib/config/routing';
import { MemoryStore } from '../../lib/store/memory-store';
import { MemoryLimiter } from '../../lib/limiter/memory-limiter';
import { RedisStoreUnavailableError } from '../../lib/store/redis-store';
import { Runtime } from '../../lib/runtime';
import { ResponsesMetrics } from '../../lib/observability/metrics';
import type { Logger, ResponseStore } from '../../lib/types';
import { randomPrefix, testRedisUrl } from '../helpers/redis';

interface LogLine {
  level: string;
  message: string;
  fields?: Record<string, unknown>;
}

function captureLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) => lines.push({ level, message, fields });
  return { logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, lines };
}

function fakeStore(): ResponseStore {
  const fail = async (): Promise<never> => {
    throw new Error('not used in these tests');
  };
  return {
    create: fail,
    read: fail,
    readEvents: fail,
    append: fail,
    restore: fail,
    cancel: fail,
    delete: fail,
    rememberNative: fail,
    lookupNative: fail,
    scheduleNative: fail,
    dueNatives: fail,
    unscheduleNative: fail,
    holdLease: fail,
    saveTurn: fail,
    setTurnUpstream: fail,
    keepTurn: fail,
    readTurn: fail,
    forgetTurn: fail,
    forgetNative: fail,
    claimNativeEnd: fail,
    claim: fail,
    renewClaim: fail,
    markClaimStarted: fail,
    releaseClaim: fail,
    handBack: fail,
    dropQueued: fail,
    queueDepth: fail,
    startQueued: fail,
    failQueued: fail,
    subscribe: fail,
    ping: async () => {},
    close: async () => {},
  };
}

/** The problems of the ConfigError that `fn` throws. */
function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

const noEnv = {};
const stores: ResponseStore[] = [];
// Tests close their stores themselves; this catches the ones a failed assertion left open.
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

/** These tests are about other settings (see withAuthChoice); the authentication tests call `resolveStrict`. */
function resolve(options: ResponsesPollingOptions, env: NodeJS.ProcessEnv = noEnv) {
  return resolveStrict(withAuthChoice(options), env);
}

function resolveStrict(options: ResponsesPollingOptions, env: NodeJS.ProcessEnv = noEnv) {
  const cfg = resolveOptions(options, env);
  if (cfg.ownsStore) stores.push(cfg.store);
  return cfg;
}

describe('defaults', () => {
  test('an options object with only a store resolves to every documented default', () => {
    const store = fakeStore();
    const { logger, lines } = captureLogger();
    const cfg = resolve({ store, logger });
    expect(cfg).toEqual({
      models: [],
      backgroundMode: { pollingViaCache: 'all', nativeBackgroundMode: [], ttl: 3600 },
      auth: 'none',
      masterKeyHash: undefined,
      virtualKeys: [],
      authenticate: undefined,
      store,
      ownsStore: false,
      limiter: expect.any(MemoryLimiter),
      ownsLimiter: true,
      limiterFailOpen: false,
      keyParallelLimit: 'refuse',
      preCallHooks: [],
      routingStrategy: 'simple-shuffle',
      webhooks: {
        endpoints: [],
        delivery: { timeoutMs: 10000, retryForMs: 86400000, backoffBaseMs: 5000, backoffMaxMs: 3600000, maxPending: 10000, concurrency: 8, pollIntervalMs: 1000 },
      },
      keyPrefix: 'rp:',
      idPrefix: 'resp_',
      maxBodyBytes: 1048576,
      maxJsonDepth: 64,
      conversation: { maxTurns: 50, maxBytes: 1_048_576 },
      nativeReconcileIntervalMs: 30_000,
      worker: {
        flushIntervalMs: 100,
        flushMaxEvents: 256,
        flushMaxBytes: 65536,
        leaseMs: 60000,
        upstreamConnectTimeoutMs: 30000,
        upstreamIdleTimeoutMs: 120000,
        upstreamMaxAttempts: 3,
        upstreamRetryBaseMs: 250,
        maxResponseBytes: 33_554_432,
        maxResponseEvents: 200_000,
        maxResponseMs: 3_600_000,
        maxEventBytes: 16_777_216,
        storeRetryGraceMs: 30000,
        recoveryLogBytes: 1048576,
        shutdownGraceMs: 10000,
        concurrency: 1024,
        maxQueueMs: 600000,
        maxClaimAttempts: 3,
        claimIntervalMs: 200,
        maxQueued: 100000,
      },
      streamFollowers: { maxPerResponse: 100, maxPerPrincipal: 1000, stallTimeoutMs: 30000, pageEvents: 500, pageBytes: 262144 },
      role: 'all',
      // The given logger, wrapped to add the request id of the current context.
      logger: expect.objectContaining({ info: expect.any(Function) }),
      metrics: expect.any(ResponsesMetrics),
      lifecycleHooks: {},
    });
    cfg.logger.warn('through the wrapper');
    expect(lines).toEqual([{ level: 'warn', message: 'through the wrapper', fields: undefined }]);
  });

  test('worker settings that are given replace only their own default', () => {
    const cfg = resolve({ store: fakeStore(), worker: { leaseMs: 5000, storeRetryGraceMs: 1000, flushIntervalMs: 0 } });
    expect(cfg.worker).toMatchObject({ leaseMs: 5000, flushIntervalMs: 0, flushMaxEvents: 256 });
  });

  test('without native models configured, nativeBackgroundMode is empty and polling works as usual', () => {
    const cfg = resolve({ store: fakeStore(), models: [{ modelName: 'gpt-4o', model: 'openai/gpt-4o' }] });
    expect(cfg.backgroundMode.nativeBackgroundMode).toEqual([]);
    expect(shouldUsePolling(cfg, { model: 'gpt-4o', background: true })).toBe(true);
  });

  test('does not change the options object it was given', () => {
    const options: ResponsesPollingOptions = {
      store: fakeStore(),
      models: [{ modelName: 'm', model: 'openai/m', apiBase: 'https://x.example/v1/' }],
      backgroundMode: { pollingViaCache: ['openai'] },
    };
    const before = JSON.stringify(options);
    const cfg = resolve(options);
    (cfg.backgroundMode.pollingViaCache as string[]).push('azure');
    expect(JSON.stringify(options)).toBe(before);
  });
});

describe('deployments', () => {
  test('a deployment speaks Chat Completions by default for chat-only providers, Responses otherwise, and upstreamApi overrides', () => {
    const cfg = resolve({
      store: fakeStore(),
      models: [
        { modelName: 'a', model: 'groq/llama-3.3-70b' },
        { modelName: 'b', model: 'hosted_vllm/meta-llama/Llama-3-8B', apiBase: 'http://vllm:8000/v1' },
        { modelName: 'c', model: 'openai/meta-llama/Llama-3-8B', apiBase: 'http://vllm:8000/v1' },
        { modelName: 'd', model: 'openai/qwen', apiBase: 'http://sglang:30000/v1', upstreamApi: 'chat_completions' },
        { modelName: 'e', model: 'ollama/llama3', upstreamApi: 'responses' },
      ],
    });
    expect(cfg.models.map((d) => [d.modelName, d.upstreamApi, d.apiBase])).toEqual([
      ['a', 'chat_completions', 'https://api.groq.com/openai/v1'],
      ['b', 'chat_completions', 'http://vllm:8000/v1'],
      ['c', 'responses', 'http://vllm:8000/v1'],
      ['d', 'chat_completions', 'http://sglang:30000/v1'],
      ['e', 'responses', 'http://localhost:11434/v1'],
    ]);
  });

  test('an azure resource root gets /openai/v1, or /openai with an apiVersion; a base with a path is kept', () => {
    const cfg = resolve({
      store: fakeStore(),
      models: [
        { modelName: 'a', model: 'azure/gpt-4o', apiBase: 'https://x.openai.azure.com/' },
        { modelName: 'b', model: 'azure/gpt-4o', apiBase: 'https://x.openai.azure.com', apiVersion: '2025-04-01-preview' },
        { modelName: 'c', model: 'azure/gpt-4o', apiBase: 'https://gw.example.com/azure/openai/v1' },
      ],
    });
    expect(cfg.models.map((d) => d.apiBase)).toEqual([
      'https://x.openai.azure.com/openai/v1',
      'https://x.openai.azure.com/openai',
      'https://gw.example.com/azure/openai/v1',
    ]);
  });

  test('routingStrategy and the retry settings are validated and defaulted', () => {
    expect(resolve({ store: fakeStore() }).routingStrategy).toBe('simple-shuffle');
    expect(resolve({ store: fakeStore() }).worker).toMatchObject({ upstreamMaxAttempts: 3, upstreamRetryBaseMs: 250 });
    expect(() => resolve({ store: fakeStore(), routingStrategy: 'least-busy' as never })).toThrow(/routingStrategy[\s\S]*round-robin/);
    expect(() => resolve({ store: fakeStore(), worker: { upstreamMaxAttempts: 0 } })).toThrow(/upstreamMaxAttempts/);
    expect(() => resolve({ store: fakeStore(), models: [{ modelName: 'm', model: 'openai/m', upstreamApi: 'chat' as never }] })).toThrow(
      /models\[0\]\.upstreamApi[\s\S]*chat_completions/,
    );
  });

  test('splits provider and upstream model and gives openai its default base URL', () => {
    const cfg = resolve({ store: fakeStore(), models: [{ modelName: 'mini', model: 'openai/gpt-4o-mini', apiKey: 'k', rpm: 10 }] });
    expect(cfg.models).toEqual([
      {
        modelName: 'mini',
        model: 'openai/gpt-4o-mini',
        provider: 'openai',
        upstreamModel: 'gpt-4o-mini',
        apiBase: 'https://api.openai.com/v1',
        apiKey: 'k',
        upstreamApi: 'responses',
        apiVersion: undefined,
        rpm: 10,
        tpm: undefined,
      },
    ]);
  });

  test('removes a trailing slash from apiBase', () => {
    const cfg = resolve({
      store: fakeStore(),
      models: [{ modelName: 'llama', model: 'hosted_vllm/meta-llama/Llama-3.1-8B', apiBase: 'http://vllm:8000/v1/' }],
    });
    expect(cfg.models[0]).toMatchObject({ provider: 'hosted_vllm', upstreamModel: 'meta-llama/Llama-3.1-8B', apiBase: 'http://vllm:8000/v1' });
  });

  test('an explicit provider allows a model name without a provider prefix', () => {
    const cfg = resolve({
      store: fakeStore(),
      models: [{ modelName: 'qwen', model: 'Qwen/Qwen2.5-7B', provider: 'openai', apiBase: 'http://tgi:8080/v1' }],
    });
    expect(cfg.models[0]).toMatchObject({ provider: 'openai', upstreamModel: 'Qwen/Qwen2.5-7B' });
  });

  test('a provider other than openai without apiBase is an error naming the deployment', () => {
    const problems = problemsOf(() =>
      resolve({
        store: fakeStore(),
        models: [
          { modelName: 'gpt-4o', model: 'openai/gpt-4o' },
          { modelName: 'claude', model: 'anthropic/claude-3' },
        ],
      }),
    );
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('models[1].apiBase (modelName "claude")');
    expect(problems[0]).toContain('"anthropic"');
    expect(problems[0]).toMatch(/Set apiBase/);
  });

  test('a model without a provider prefix is an error that shows the expected form', () => {
    const [problem] = problemsOf(() => resolve({ store: fakeStore(), models: [{ modelName: 'x', model: 'gpt-4o' }] }));
    expect(problem).toContain('models[0].model');
    expect(problem).toContain('openai/gpt-4o-mini');
  });

  test('an apiBase that is not an http(s) URL is an error', () => {
    const [problem] = problemsOf(() =>
      resolve({ store: fakeStore(), models: [{ modelName: 'x', model: 'openai/x', apiBase: 'ftp://files.example/v1' }] }),
    );
    expect(problem).toMatch(/^models\[0\]\.apiBase .*not an http\(s\) URL/);
  });

  test('rpm and tpm must be positive integers', () => {
    const problems = problemsOf(() =>
      resolve({ store: fakeStore(), models: [{ modelName: 'x', model: 'openai/x', rpm: 0, tpm: 1.5 }] }),
    );
    expect(problems).toEqual([
      expect.stringMatching(/^models\[0\]\.rpm .*must be at least 1 \(got 0\)/),
      expect.stringMatching(/^models\[0\]\.tpm .*must be a whole number \(got 1\.5\)/),
    ]);
  });

  test('a * is accepted only at the end of modelName', () => {
    const [problem] = problemsOf(() => resolve({ store: fakeStore(), models: [{ modelName: 'gpt-*-mini', model: 'openai/gpt-*-mini' }] }));
    expect(problem).toMatch(/modelName.*only at the end/);
  });
});

describe('validation', () => {
  test('pollingViaCache: true fails and says to write "all", since LiteLLM silently disables the feature there', () => {
    const [problem] = problemsOf(() =>
      resolve({ store: fakeStore(), backgroundMode: { pollingViaCache: true as unknown as 'all' } }),
    );
    expect(problem).toMatch(/^backgroundMode\.pollingViaCache is true/);
    expect(problem).toMatch(/silently/);
    expect(problem).toContain("pollingViaCache: 'all'");
  });

  test('ttl must be a positive integer number of seconds', () => {
    expect(problemsOf(() => resolve({ store: fakeStore(), backgroundMode: { ttl: -5 } }))[0]).toMatch(
      /^backgroundMode\.ttl must be at least 1 \(got -5\)\. .*seconds/,
    );
    expect(problemsOf(() => resolve({ store: fakeStore(), backgroundMode: { ttl: 2.5 } }))[0]).toMatch(/whole number/);
  });

  test('a store retry grace that would outlast the lease is an error that says how long the lease must be', () => {
    const problems = problemsOf(() => resolve({ store: fakeStore(), worker: { leaseMs: 20000 } }));
    expect(problems).toEqual([expect.stringMatching(/^worker\.storeRetryGraceMs \(30000\) must be at most 75% of worker\.leaseMs \(20000\).*at least 43000/)]);
    expect(() => resolve({ store: fakeStore(), worker: { leaseMs: 20000, storeRetryGraceMs: 13000 } })).not.toThrow();
  });

  test('flushIntervalMs above 1000 and leaseMs below 1000 are errors', () => {
    const problems = problemsOf(() => resolve({ store: fakeStore(), worker: { flushIntervalMs: 1001, leaseMs: 999 } }));
    expect(problems).toEqual([
      expect.stringMatching(/^worker\.flushIntervalMs must be at most 1000/),
      expect.stringMatching(/^worker\.leaseMs must be at least 1000/),
    ]);
  });

  test('every problem is listed in one error', () => {
    const problems = problemsOf(() =>
      resolve({
        backgroundMode: { pollingViaCache: 'some' as 'all', ttl: 0 },
        models: [{ modelName: '', model: 'gpt' }],
        maxBodyBytes: -1,
        keyPrefix: 'a{b}',
      }),
    );
    expect(problems.length).toBe(6);
  });

  test('an unknown option is an error with a suggestion', () => {
    const [problem] = problemsOf(() => resolve({ store: fakeStore(), pollingViaCache: 'all' } as ResponsesPollingOptions));
    expect(problem).toMatch(/^pollingViaCache is not a known setting/);
    const [snake] = problemsOf(() => resolve({ store: fakeStore(), key_prefix: 'x' } as ResponsesPollingOptions));
    expect(snake).toContain('Did you mean keyPrefix?');
  });

  test('passing a file name instead of options points to loadConfig', () => {
    const [problem] = problemsOf(() => resolveOptions('config.yaml' as unknown as ResponsesPollingOptions, noEnv));
    expect(problem).toContain('loadConfig("config.yaml")');
  });

  test('a store without the store methods is an error', () => {
    const [problem] = problemsOf(() => resolve({ store: { read: () => null } as unknown as ResponseStore }));
    expect(problem).toMatch(/^store is missing the store methods create, readEvents/);
  });

  test('a keyPrefix with braces is refused, since it would break the Redis Cluster hash tag', () => {
    expect(problemsOf(() => resolve({ store: fakeStore(), keyPrefix: 'app{1}:' }))[0]).toMatch(/^keyPrefix .*hash tag/);
  });
});

/** Nothing listens on port 1: a store pointed there can never connect. */
const UNREACHABLE_REDIS = 'redis://127.0.0.1:1';

/** Asserts that `store` is a Redis store (not the in-memory one) that answers, with `keyPrefix`. */
async function expectWorkingRedisStore(store: ResponseStore, keyPrefix: string): Promise<void> {
  expect(store).not.toBeInstanceOf(MemoryStore);
  expect(store).toHaveProperty('keyPrefix', keyPrefix);
  await expect(store.ping()).resolves.toBeUndefined();
}

describe('store', () => {
  test('a given store is used as is and not owned, whatever Redis the options or environment name', () => {
    const store = fakeStore();
    const cfg = resolve({ store, redis: UNREACHABLE_REDIS }, { REDIS_URL: UNREACHABLE_REDIS });
    expect(cfg.store).toBe(store);
    expect(cfg.ownsStore).toBe(false);
  });

  test('a redis URL builds a working Redis store with the configured key prefix', async () => {
    const keyPrefix = randomPrefix();
    const cfg = resolve({ redis: testRedisUrl(), keyPrefix, logger: captureLogger().logger });
    expect(cfg.ownsStore).toBe(true);
    await expectWorkingRedisStore(cfg.store, keyPrefix);
    await cfg.store.close();
  });

  test('redis connection fields build a working Redis store', async () => {
    const url = new URL(testRedisUrl());
    const keyPrefix = randomPrefix();
    const cfg = resolve({ redis: { host: url.hostname, port: Number(url.port || 6379) }, keyPrefix, logger: captureLogger().logger });
    await expectWorkingRedisStore(cfg.store, keyPrefix);
    await cfg.store.close();
  });

  test('without a key prefix, the Redis store uses the default rp:', async () => {
    const cfg = resolve({ redis: testRedisUrl(), logger: captureLogger().logger });
    await expectWorkingRedisStore(cfg.store, 'rp:');
    await cfg.store.close();
  });

  test('REDIS_URL from the environment is used when the options name no Redis', async () => {
    const keyPrefix = randomPrefix();
    const { logger, lines } = captureLogger();
    const cfg = resolve({ keyPrefix, logger }, { REDIS_URL: testRedisUrl() });
    expect(cfg.ownsStore).toBe(true);
    await expectWorkingRedisStore(cfg.store, keyPrefix);
    // No "in-memory store" warning: Redis was found.
    expect(lines).toEqual([]);
    await cfg.store.close();
  });

  test('options.redis wins over REDIS_URL', async () => {
    const keyPrefix = randomPrefix();
    const cfg = resolve({ redis: testRedisUrl(), keyPrefix, logger: captureLogger().logger }, { REDIS_URL: UNREACHABLE_REDIS });
    await expectWorkingRedisStore(cfg.store, keyPrefix);
    await cfg.store.close();
  });

  test('the Redis store reports connection problems through the configured logger', async () => {
    const { logger, lines } = captureLogger();
    const cfg = resolve({ redis: UNREACHABLE_REDIS, logger });
    await expect(cfg.store.ping()).rejects.toBeInstanceOf(RedisStoreUnavailableError);
    expect(lines).toContainEqual(expect.objectContaining({ level: 'error', message: 'redis store: connection error' }));
    await cfg.store.close();
  });

  test('a REDIS_URL that is not a redis URL is an error that does not repeat it', () => {
    const [problem] = problemsOf(() => resolve({}, { REDIS_URL: 'http://user:hunter2@cache:6379' }));
    expect(problem).toMatch(/^REDIS_URL \(environment\) is not a redis:\/\/ or rediss:\/\/ URL/);
    expect(problem).not.toContain('hunter2');
  });

  test('without Redis, the in-memory store is used with one warning that says how to configure Redis', async () => {
    const { logger, lines } = captureLogger();
    const cfg = resolve({ logger });
    expect(cfg.store).toBeInstanceOf(MemoryStore);
    expect(cfg.ownsStore).toBe(true);
    const warnings = lines.filter((l) => l.level === 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0].message).toMatch(/single process/);
    expect(warnings[0].message).toMatch(/REDIS_URL/);
    await cfg.store.close();
  });
});

describe('warnings about settings that cannot take effect', () => {
  test('a polling provider that no deployment uses is warned about', () => {
    const { logger, lines } = captureLogger();
    resolve({
      store: fakeStore(),
      logger,
      models: [{ modelName: 'gpt-4o', model: 'openai/gpt-4o' }],
      backgroundMode: { pollingViaCache: ['opneai'] },
    });
    expect(lines).toEqual([expect.objectContaining({ level: 'warn', fields: expect.objectContaining({ providers: ['opneai'] }) })]);
  });

  test('a native model that matches no deployment is warned about', () => {
    const { logger, lines } = captureLogger();
    resolve({
      store: fakeStore(),
      logger,
      models: [{ modelName: 'o3-deep-research', model: 'openai/o3-deep-research' }],
      backgroundMode: { nativeBackgroundMode: ['o3-deep-research', 'openai/o3-deep-research'] },
    });
    expect(lines).toEqual([expect.objectContaining({ fields: { code: 'native_model_unmatched', models: ['openai/o3-deep-research'] } })]);
  });
});

describe('authentication', () => {
  const KEY_A = 'sk-virtual-a-0123456789';
  const sha = (v: string) => createHash('sha256').update(v).digest('hex');

  test('virtual keys resolve to digests, ids, limits and models; the plaintext key is not kept', () => {
    const cfg = resolve({
      store: fakeStore(),
      masterKey: 'sk-master-kept-as-hash',
      virtualKeys: [
        { key: KEY_A, rpmLimit: 60, tpmLimit: 1000, maxParallelRequests: 2, maxBudget: 1.5, models: ['gpt-4o-mini', 'o4*'] },
        { keyHash: sha('sk-virtual-b').toUpperCase(), id: 'team-b' },
      ],
    });
    expect(cfg.auth).toBe('required');
    expect(cfg.masterKeyHash).toBe(sha('sk-master-kept-as-hash'));
    expect(cfg.virtualKeys).toEqual([
      {
        id: sha(KEY_A).slice(0, 12),
        hash: sha(KEY_A),
        limits: { rpm: 60, tpm: 1000, maxParallel: 2, maxBudget: 1.5 },
        models: ['gpt-4o-mini', 'o4*'],
      },
      { id: 'team-b', hash: sha('sk-virtual-b'), limits: {}, models: undefined },
    ]);
    const json = JSON.stringify(cfg);
    expect(json).not.toContain(KEY_A);
    expect(json).not.toContain('sk-master-kept-as-hash');
  });

  test('a virtual key needs exactly one of key and keyHash', () => {
    const problems = problemsOf(() =>
      resolve({ store: fakeStore(), virtualKeys: [{ id: 'nothing' }, { key: KEY_A, keyHash: sha(KEY_A) }] }),
    );
    expect(problems).toEqual([
      'virtualKeys[0] has neither key nor keyHash. Give each entry exactly one of key (the key clients send) and keyHash (its SHA-256 hex digest).',
      'virtualKeys[1] has both key and keyHash. Give each entry exactly one of key (the key clients send) and keyHash (its SHA-256 hex digest).',
    ]);
  });

  test('a keyHash that is not 64 hex digits, an empty models list and unknown fields are errors with a fix', () => {
    const problems = problemsOf(() =>
      resolve({
        store: fakeStore(),
        virtualKeys: [{ keyHash: 'abc123', models: [] }, { key: KEY_A, rpm: 5 } as never],
      }),
    );
    expect(problems).toEqual([
      expect.stringMatching(/^virtualKeys\[0\]\.keyHash has characters that are not allowed here\. Write the SHA-256 digest of the key as 64 hex digits/),
      expect.stringMatching(/^virtualKeys\[0\]\.models must not be an empty list\. List the model names this key may use/),
      'virtualKeys[1].rpm is not a known setting. Remove it; the known keys here are key, keyHash, id, rpmLimit, tpmLimit, maxParallelRequests, maxBudget, budgetDuration, models.',
    ]);
  });

  test('two keys with one key or one id, a key equal to the master key, and reserved ids are refused', () => {
    const problems = problemsOf(() =>
      resolve({
        store: fakeStore(),
        masterKey: 'sk-master-same',
        virtualKeys: [
          { key: KEY_A, id: 'team' },
          { keyHash: sha(KEY_A) },
          { key: 'sk-other', id: 'team' },
          { key: 'sk-master-same' },
          { key: 'sk-third', id: 'master' },
        ],
      }),
    );
    expect(problems).toEqual([
      'virtualKeys[1] has the same key as virtualKeys[0]. Give every virtual key its own key.',
      `virtualKeys[2] has the id "team", which virtualKeys[0] already uses. Give every virtual key its own id; keys with one id would share each other's responses.`,
      'virtualKeys[3] has the same key as masterKey. Give it a key of its own; the master key needs no virtual key entry.',
      'virtualKeys[4] has the id "master", which is reserved. Choose another id.',
    ]);
    expect(problems.join('\n')).not.toMatch(/sk-/);
  });

  test("auth: 'none' runs open on purpose, and cannot be combined with credentials", () => {
    expect(resolve({ store: fakeStore(), auth: 'none' }).auth).toBe('none');
    expect(resolve({ store: fakeStore(), authenticate: () => null }).auth).toBe('required');
    expect(problemsOf(() => resolve({ store: fakeStore(), auth: 'none', masterKey: 'sk-x', authenticate: () => null }))).toEqual([
      "auth is 'none', but masterKey and authenticate are set too. Remove auth: 'none' to require those credentials, or remove masterKey, virtualKeys or authenticate to run without authentication behind your own.",
    ]);
    expect(problemsOf(() => resolve({ store: fakeStore(), auth: 'open' } as unknown as ResponsesPollingOptions))).toEqual([
      "auth has an unsupported value (got a string). Write auth: 'none' to run without authentication behind the host app's own, or leave auth out.",
    ]);
    expect(problemsOf(() => resolve({ store: fakeStore(), authenticate: 'session' } as unknown as ResponsesPollingOptions))).toEqual([
      'authenticate is a string, not a function. Pass a function (req) => principal | null, or leave authenticate out.',
    ]);
  });

  test('a virtual key allowing a model that no deployment serves is warned about', () => {
    const { logger, lines } = captureLogger();
    resolve({
      store: fakeStore(),
      logger,
      models: [{ modelName: 'gpt-4o-mini', model: 'openai/gpt-4o-mini' }],
      virtualKeys: [{ key: KEY_A, id: 'team-a', models: ['gpt-4o-mini', 'gpt-4o-mnii', 'o*'] }],
    });
    const aboutKeys = lines.filter((l) => l.fields?.keyId !== undefined);
    expect(aboutKeys).toEqual([expect.objectContaining({ level: 'warn', fields: { code: 'virtual_key_model_unserved', keyId: 'team-a', models: ['gpt-4o-mnii'] } })]);
  });

  test('without any authentication decision the configuration fails closed, saying what to set', () => {
    const problems = problemsOf(() => resolveStrict({ store: fakeStore() }));
    expect(problems).toEqual([NO_AUTH_DECISION]);
    expect(problems[0]).toMatch(/masterKey, virtualKeys or authenticate/);
    expect(problems[0]).toContain("auth: 'none'");
    expect(problemsOf(() => resolveStrict({ store: fakeStore(), virtualKeys: [] }))).toEqual([NO_AUTH_DECISION]);
    expect(() => new Runtime(resolveStrict({ store: fakeStore(), masterKey: 'sk-m' }))).not.toThrow();
    expect(resolveStrict({ store: fakeStore(), auth: 'none' }).auth).toBe('none');
  });

  test('a master key or virtual key that is present but undefined or empty is an error, not an open route', () => {
    const unset: string | undefined = undefined;
    expect(problemsOf(() => resolveStrict({ store: fakeStore(), masterKey: unset }))).toEqual([
      expect.stringMatching(/^masterKey is undefined \(is the environment variable it reads unset\?\)/),
      NO_AUTH_DECISION,
    ]);
    expect(problemsOf(() => resolveStrict({ store: fakeStore(), masterKey: '' }))).toEqual([expect.stringMatching(/^masterKey must not be empty/)]);
    const keyProblems = problemsOf(() => resolveStrict({ store: fakeStore(), virtualKeys: [{ key: unset, id: 'team-a' }] }));
    expect(keyProblems).toEqual(expect.arrayContaining([expect.stringMatching(/^virtualKeys\[0\]\.key is undefined/)]));
    expect(problemsOf(() => resolveStrict({ store: fakeStore(), virtualKeys: [{ key: '', id: 'team-a' }] }))).toEqual(
      expect.arrayContaining([expect.stringMatching(/^virtualKeys\[0\]\.key must not be empty/)]),
    );
  });

  test('a runtime warns about no open routes: the decision is made before it exists', async () => {
    const quiet = captureLogger();
    const runtime = new Runtime(resolveStrict({ store: fakeStore(), logger: quiet.logger, auth: 'none' }));
    expect(quiet.lines.filter((l) => /open/.test(l.message))).toEqual([]);
    await runtime.close(0);
  });
});

describe('secrets', () => {
  test('no key or password appears in any error message or log line', () => {
    const secrets = ['sk-master-0123456789', 'sk-upstream-abcdef', 'redis-pass-XYZ', '987654321', 'hunter2'];
    const { logger, lines } = captureLogger();
    const options = {
      logger,
      masterKey: secrets[0],
      models: [
        { modelName: 'claude', model: 'anthropic/claude-3', apiKey: secrets[1] },
        { modelName: 'numeric-key', model: 'openai/x', apiKey: Number(secrets[3]) },
      ],
      redis: { host: 'cache', port: 70000, password: secrets[2] },
      backgroundMode: { pollingViaCache: true },
    } as unknown as ResponsesPollingOptions;
    const problems = problemsOf(() => resolve(options, { REDIS_URL: `redis://:${secrets[4]}@cache:6379` }));
    const masterAsNumber = problemsOf(() => resolve({ store: fakeStore(), masterKey: 424242 } as unknown as ResponsesPollingOptions));
    const redisUrl = problemsOf(() => resolve({ redis: `http://:${secrets[4]}@cache` }));

    // And the valid path: a deployment with a key and a master key, logging the in-memory warning.
    resolve({ logger, masterKey: secrets[0], models: [{ modelName: 'm', model: 'openai/m', apiKey: secrets[1] }] });

    const everything = [
      ...problems,
      ...masterAsNumber,
      ...redisUrl,
      ...lines.map((l) => `${l.message} ${JSON.stringify(l.fields ?? {})}`),
    ].join('\n');
    expect(problems.length).toBeGreaterThanOrEqual(4);
    expect(lines.length).toBeGreaterThan(0);
    for (const secret of [...secrets, '424242']) expect(everything).not.toContain(secret);
  });
});
