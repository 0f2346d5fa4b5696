// loadConfig: a LiteLLM-style YAML file mapped onto options, with os.environ/ values, warnings
// for what is ignored, and errors that name the YAML path and the fix.

import { createHash } from 'node:crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ConfigError } from '../../lib/errors';
import { loadConfig } from '../../lib/config/load-config';
import { resolveOptions } from '../../lib/config/resolve';
import { redisChoice } from '../../lib/config/redis-choice';
import { findDeployments, shouldUsePolling } from '../../lib/config/routing';
import { STORE_METHODS } from '../../lib/config/ajv';
import { MemoryStore } from '../../lib/store/memory-store';
import type { Logger, ResponseStore } from '../../lib/types';

const FIXTURE = path.join(__dirname, '..', 'fixtures', 'litellm-proxy-config.yaml');
/** LiteLLM's own proxy_server_config.yaml, as in its repository. */
const LITELLM_OWN_FIXTURE = path.join(__dirname, '..', 'fixtures', 'litellm-proxy-server-config.yaml');

interface LogLine {
  level: string;
  message: string;
  fields?: Record<string, unknown>;
}

function captureLogger(): { logger: Logger; lines: LogLine[]; warnings: () => LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) => lines.push({ level, message, fields });
  return {
    logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') },
    lines,
    warnings: () => lines.filter((l) => l.level === 'warn'),
  };
}

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rp-load-config-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
  jest.restoreAllMocks();
});

function writeYaml(text: string, name = 'config.yaml'): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

function fakeStore(): ResponseStore {
  const unused = async (): Promise<never> => {
    throw new Error('not used in these tests');
  };
  return Object.fromEntries(STORE_METHODS.map((m) => [m, unused])) as unknown as ResponseStore;
}

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

const FIXTURE_ENV = {
  OPENAI_API_KEY: 'sk-openai-fixture',
  AZURE_API_KEY: 'azure-key-fixture',
  AZURE_API_BASE_WEST: 'https://contoso-westeurope.openai.azure.com',
  AZURE_API_KEY_WEST: 'azure-west-key-fixture',
  ANTHROPIC_API_KEY: 'sk-ant-fixture',
  GROQ_API_KEY: 'gsk-fixture',
  REDIS_HOST: 'redis.internal',
  REDIS_PORT: '6380',
  REDIS_PASSWORD: 'redis-password-fixture',
  LITELLM_MASTER_KEY: 'sk-master-fixture',
};

describe('a real LiteLLM proxy config', () => {
  test('loads with warnings only', () => {
    const { logger, lines } = captureLogger();
    expect(() => loadConfig(FIXTURE, { env: FIXTURE_ENV, logger })).not.toThrow();
    expect(lines.every((l) => l.level === 'warn')).toBe(true);
  });

  test('maps model_list, background_mode, master_key, cache_params and responses_polling onto options', () => {
    const { logger } = captureLogger();
    const options = loadConfig(FIXTURE, { env: FIXTURE_ENV, logger });
    expect(options.backgroundMode).toEqual({
      pollingViaCache: ['openai', 'azure'],
      nativeBackgroundMode: ['o4-mini-deep-research'],
      ttl: 7200,
    });
    expect(options.masterKey).toBe('sk-master-fixture');
    expect(options.redis).toEqual({ host: 'redis.internal', port: 6380, password: 'redis-password-fixture' });
    expect(options.keyPrefix).toBe('litellm-rp:');
    expect(options.idPrefix).toBe('resp_');
    expect(options.maxBodyBytes).toBe(2097152);
    // router_settings.num_retries: 2 → three attempts.
    expect(options.worker).toEqual({ flushIntervalMs: 100, flushMaxEvents: 128, leaseMs: 45000, upstreamIdleTimeoutMs: 300000, upstreamMaxAttempts: 3 });
    expect(options.logger).toBe(logger);
    expect(options.models?.map((d) => d.modelName)).toEqual([
      'gpt-4o',
      'gpt-4o-mini',
      'o4-mini-deep-research',
      'gpt-4.1',
      'gpt-4.1',
      'claude-sonnet',
      'llama-3.1-8b',
      'qwen-coder',
      'fake-openai-endpoint',
      'text-embedding-3-small',
      'openai/*',
      'groq/*',
    ]);
    expect(options.models?.[0]).toEqual({ modelName: 'gpt-4o', model: 'openai/gpt-4o', apiKey: 'sk-openai-fixture', rpm: 480, tpm: 800000 });
  });

  test('reads rpm and tpm from the entry first, then litellm_params, then model_info, as LiteLLM’s router does', () => {
    const options = loadConfig(FIXTURE, { env: FIXTURE_ENV, logger: captureLogger().logger });
    const byName = (name: string) => options.models?.filter((d) => d.modelName === name) ?? [];
    expect(byName('gpt-4o-mini')[0]).toMatchObject({ rpm: 1000, tpm: 2000000 });
    expect(byName('gpt-4.1')[1]).toMatchObject({ tpm: 450000 });
  });

  test('keeps an azure api_version, and resolves a resource root to the versioned /openai base', () => {
    const options = loadConfig(FIXTURE, { env: FIXTURE_ENV, logger: captureLogger().logger });
    const azure = options.models?.filter((d) => d.modelName === 'gpt-4.1');
    expect(azure?.map((d) => d.apiVersion)).toEqual(['2025-03-01-preview', '2025-03-01-preview']);
    const resolved = resolveOptions({ ...options, store: new MemoryStore() }).models.filter((d) => d.modelName === 'gpt-4.1');
    expect(resolved.map((d) => d.apiBase)).toEqual(['https://contoso-eastus.openai.azure.com/openai', 'https://contoso-westeurope.openai.azure.com/openai']);
  });

  test('an azure resource root without api_version resolves to the v1 API', () => {
    const file = writeYaml(
      'model_list:\n  - model_name: az\n    litellm_params:\n      model: azure/gpt-4o\n      api_base: https://contoso.openai.azure.com/\n      api_key: k\n',
      'azure-v1.yaml',
    );
    const options = loadConfig(file, { env: {}, logger: captureLogger().logger });
    expect(resolveOptions({ ...options, store: new MemoryStore(), auth: 'none' }).models[0]).toMatchObject({
      apiBase: 'https://contoso.openai.azure.com/openai/v1',
      apiVersion: undefined,
      provider: 'azure',
      upstreamApi: 'responses',
    });
  });

  test('reads model_info.upstream_api and router_settings, warning about a routing strategy it does not implement', () => {
    const file = writeYaml(
      [
        'model_list:',
        '  - model_name: llama',
        '    litellm_params:',
        '      model: openai/meta-llama/Llama-3-8B',
        '      api_base: http://vllm.internal:8000/v1',
        '    model_info:',
        '      upstream_api: chat_completions',
        'router_settings:',
        '  routing_strategy: round-robin',
        '  num_retries: 0',
        '',
      ].join('\n'),
      'router.yaml',
    );
    const options = loadConfig(file, { env: {}, logger: captureLogger().logger });
    expect(options.models?.[0].upstreamApi).toBe('chat_completions');
    expect(options.routingStrategy).toBe('round-robin');
    expect(options.worker?.upstreamMaxAttempts).toBe(1);

    const { logger, warnings } = captureLogger();
    const fromFixture = loadConfig(FIXTURE, { env: FIXTURE_ENV, logger });
    expect(fromFixture.routingStrategy).toBeUndefined();
    expect(warnings().filter((w) => /routing_strategy "usage-based-routing-v2" is not implemented/.test(w.message))).toHaveLength(1);
  });

  test('refuses an upstream_api it does not know, naming the path and the fix', () => {
    const file = writeYaml(
      'model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/m\n    model_info:\n      upstream_api: completions\n',
      'bad-api.yaml',
    );
    expect(() => loadConfig(file, { env: {}, logger: captureLogger().logger })).toThrow(/model_list\[0\].*upstream_api[\s\S]*chat_completions/);
  });

  test('keeps custom_llm_provider as the provider of a model without a prefix', () => {
    const options = loadConfig(FIXTURE, { env: FIXTURE_ENV, logger: captureLogger().logger });
    expect(options.models?.find((d) => d.modelName === 'qwen-coder')).toMatchObject({
      model: 'Qwen/Qwen2.5-Coder-32B-Instruct',
      provider: 'openai',
    });
  });

  test('warns once, listing the ignored LiteLLM settings by path and never by value', () => {
    const { logger, warnings } = captureLogger();
    loadConfig(FIXTURE, { env: FIXTURE_ENV, logger });
    const ignoredWarnings = warnings().filter((w) => /ignoring/.test(w.message));
    expect(ignoredWarnings).toHaveLength(1);
    const ignored = ignoredWarnings[0].fields?.ignored as string[];
    expect(ignored).toEqual(
      expect.arrayContaining([
        'router_settings.redis_host',
        'router_settings.allowed_fails',
        'finetune_settings',
        'guardrails',
        'environment_variables',
        'litellm_settings.callbacks',
        'litellm_settings.drop_params',
        'litellm_settings.cache_params.namespace',
        'general_settings.database_url',
        'general_settings.alerting',
        'model_list[*].model_info.id',
        'model_list[*].litellm_params.timeout',
      ]),
    );
    expect(ignored).not.toContain('litellm_settings.cache');
    expect(ignoredWarnings[0].message).not.toContain('hooks.slack.com');
  });

  test('skips deployments it cannot reach (no api_base) with one warning that names them', () => {
    const { logger, warnings } = captureLogger();
    loadConfig(FIXTURE, { env: FIXTURE_ENV, logger });
    const skipped = warnings().filter((w) => /skipping/.test(w.message));
    expect(skipped).toHaveLength(1);
    expect(skipped[0].fields?.skipped).toEqual([
      'model_list[5] (model_name "claude-sonnet-bedrock", provider bedrock)',
      'model_list[6] (model_name "claude-haiku", provider anthropic)',
    ]);
  });

  test('resolves into a configuration whose routing follows the file', () => {
    const loaded = loadConfig(FIXTURE, { env: FIXTURE_ENV, logger: captureLogger().logger });
    const cfg = resolveOptions({ ...loaded, store: fakeStore() }, {});
    expect(cfg.models).toHaveLength(12);
    expect(cfg.models.find((d) => d.modelName === 'claude-sonnet')).toMatchObject({
      provider: 'anthropic',
      apiBase: 'https://api.anthropic.com/v1',
    });
    expect(shouldUsePolling(cfg, { model: 'gpt-4.1', background: true })).toBe(true);
    expect(shouldUsePolling(cfg, { model: 'claude-sonnet', background: true })).toBe(false);
    expect(shouldUsePolling(cfg, { model: 'o4-mini-deep-research', background: true })).toBe(false);
    expect(shouldUsePolling(cfg, { model: 'openai/gpt-4.1-nano', background: true })).toBe(true);
  });

  test('no secret from the file or the environment appears in any warning', () => {
    const { logger, lines } = captureLogger();
    loadConfig(FIXTURE, { env: { ...FIXTURE_ENV, AZURE_API_KEY_WEST: undefined }, logger });
    const text = JSON.stringify(lines);
    for (const value of Object.values(FIXTURE_ENV)) {
      if (value.startsWith('https://') || value === 'redis.internal' || value === '6380') continue;
      expect(text).not.toContain(value);
    }
    expect(text).not.toContain('fake-key');
  });
});

describe('a proxy_server_config.yaml in the shape of LiteLLM’s own', () => {
  test('loads with warnings only and no error, even with every os.environ/ variable unset', () => {
    const { logger, lines } = captureLogger();
    expect(() => loadConfig(LITELLM_OWN_FIXTURE, { env: {}, logger })).not.toThrow();
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.every((l) => l.level === 'warn')).toBe(true);
  });

  test('reads its bare model names as openai with one warning that lists their paths and how to silence it', () => {
    const { logger, warnings } = captureLogger();
    const options = loadConfig(LITELLM_OWN_FIXTURE, { env: {}, logger });
    const inferred = warnings().filter((w) => /without a provider prefix/.test(w.message));
    expect(inferred).toHaveLength(1);
    expect(inferred[0].fields?.paths).toEqual(['model_list[0]', 'model_list[3]', 'model_list[8]']);
    expect(inferred[0].message).toContain('model_list[8] ("dall-e-3")');
    expect(inferred[0].message).toContain('openai/<name>');
    expect(options.models?.find((d) => d.modelName === 'openai-dall-e-3')).toEqual({ modelName: 'openai-dall-e-3', model: 'openai/dall-e-3' });
  });

  test('skips the azure/ entry that has no model name, with a warning naming its path', () => {
    const { logger, warnings } = captureLogger();
    const options = loadConfig(LITELLM_OWN_FIXTURE, { env: {}, logger });
    expect(options.models?.some((d) => d.modelName === 'dall-e-2')).toBe(false);
    const unservable = warnings().filter((w) => /cannot be served/.test(w.message));
    expect(unservable).toHaveLength(1);
    expect(unservable[0].fields?.skipped).toEqual(['model_list[7] (model_name "dall-e-2"): model "azure/" has no model name after the /']);
  });

  test('resolves, and routes its model names to the deployments the file gives them', async () => {
    const loaded = loadConfig(LITELLM_OWN_FIXTURE, { env: {}, logger: captureLogger().logger });
    const store = new MemoryStore();
    try {
      const cfg = resolveOptions({ ...loaded, store }, {});
      expect(cfg.masterKeyHash).toBe(createHash('sha256').update('sk-1234').digest('hex'));
      expect(findDeployments(cfg.models, 'gpt-3.5-turbo-end-user-test')).toEqual([
        expect.objectContaining({ provider: 'openai', upstreamModel: 'gpt-3.5-turbo', apiBase: 'https://api.openai.com/v1' }),
        expect.objectContaining({
          provider: 'azure',
          upstreamModel: 'chatgpt-v-2',
          apiBase: 'https://contoso-test.openai.azure.com/openai',
        }),
      ]);
      // Any other name falls through to the "*" wildcard deployment.
      expect(findDeployments(cfg.models, 'gpt-4o-mini')).toEqual([
        expect.objectContaining({ modelName: '*', provider: 'openai', upstreamModel: 'gpt-4o-mini' }),
      ]);
      expect(shouldUsePolling(cfg, { model: 'gpt-3.5-turbo', background: true })).toBe(true);
    } finally {
      await store.close();
    }
  });
});

describe('model names in litellm_params', () => {
  test('a bare model name loads exactly as openai/<name> would', () => {
    const bare = writeYaml('model_list:\n  - model_name: mini\n    litellm_params:\n      model: gpt-4o-mini\n', 'bare.yaml');
    const prefixed = writeYaml('model_list:\n  - model_name: mini\n    litellm_params:\n      model: openai/gpt-4o-mini\n', 'prefixed.yaml');
    const quiet = captureLogger();
    expect(loadConfig(bare, { env: {}, logger: captureLogger().logger }).models).toEqual(
      loadConfig(prefixed, { env: {}, logger: quiet.logger }).models,
    );
    expect(quiet.warnings()).toEqual([]);
  });

  test('a bare model name with custom_llm_provider is left as written, without a warning', () => {
    const file = writeYaml(
      'model_list:\n  - model_name: q\n    litellm_params:\n      model: qwen-7b\n      custom_llm_provider: openai\n      api_base: http://tgi:8080/v1\n',
    );
    const { logger, warnings } = captureLogger();
    expect(loadConfig(file, { env: {}, logger }).models).toEqual([
      { modelName: 'q', model: 'qwen-7b', provider: 'openai', apiBase: 'http://tgi:8080/v1' },
    ]);
    expect(warnings()).toEqual([]);
  });

  test('a model with no provider before the / is skipped with a warning naming its path', () => {
    const file = writeYaml(
      'model_list:\n  - model_name: a\n    litellm_params:\n      model: openai/a\n  - model_name: b\n    litellm_params:\n      model: /gpt-4o\n',
    );
    const { logger, warnings } = captureLogger();
    expect(loadConfig(file, { env: {}, logger }).models?.map((d) => d.modelName)).toEqual(['a']);
    expect(warnings()).toEqual([
      expect.objectContaining({ fields: expect.objectContaining({ skipped: ['model_list[1] (model_name "b"): model "/gpt-4o" has no provider before the /'] }) }),
    ]);
  });

  test('a model that is only the custom_llm_provider prefix is skipped too', () => {
    const file = writeYaml(
      'model_list:\n  - model_name: x\n    litellm_params:\n      model: azure/\n      custom_llm_provider: azure\n      api_base: https://r.openai.azure.com/\n',
    );
    const { logger, warnings } = captureLogger();
    expect(loadConfig(file, { env: {}, logger }).models).toEqual([]);
    expect(warnings()[0].message).toMatch(/model_list\[0\] .*no model name after the \//);
  });
});

describe('polling_via_cache', () => {
  test('polling_via_cache: true fails with the path and the fix, since LiteLLM silently disables the feature there', () => {
    const file = writeYaml('litellm_settings:\n  responses:\n    background_mode:\n      polling_via_cache: true\n');
    const [problem] = problemsOf(() => loadConfig(file, { env: {}, logger: captureLogger().logger }));
    expect(problem).toContain(`${file}: litellm_settings.responses.background_mode.polling_via_cache is true`);
    expect(problem).toMatch(/silently/);
    expect(problem).toContain('polling_via_cache: "all"');
  });

  test('the string "true" fails the same way', () => {
    const file = writeYaml('litellm_settings:\n  responses:\n    background_mode:\n      polling_via_cache: "true"\n');
    expect(problemsOf(() => loadConfig(file, { env: {}, logger: captureLogger().logger }))[0]).toMatch(/is true/);
  });

  test('an empty polling_via_cache is an error rather than a silent default', () => {
    const file = writeYaml('litellm_settings:\n  responses:\n    background_mode:\n      polling_via_cache:\n');
    expect(problemsOf(() => loadConfig(file, { env: {}, logger: captureLogger().logger }))[0]).toMatch(/polling_via_cache .*Write/);
  });

  test('"all", a provider list and false are accepted', () => {
    for (const [yamlValue, expected] of [
      ['all', 'all'],
      ['["openai"]', ['openai']],
      ['false', false],
    ] as const) {
      const file = writeYaml(`litellm_settings:\n  responses:\n    background_mode:\n      polling_via_cache: ${yamlValue}\n`);
      expect(loadConfig(file, { env: {}, logger: captureLogger().logger }).backgroundMode?.pollingViaCache).toEqual(expected);
    }
  });
});

describe('errors name the YAML path and the fix', () => {
  test('ttl, rpm and an empty model are each reported with their path', () => {
    const file = writeYaml(
      [
        'model_list:',
        '  - model_name: mini',
        '    litellm_params:',
        '      model: ""',
        '      rpm: -1',
        'litellm_settings:',
        '  responses:',
        '    background_mode:',
        '      ttl: 1.5',
      ].join('\n'),
    );
    const problems = problemsOf(() => loadConfig(file, { env: {}, logger: captureLogger().logger }));
    expect(problems).toEqual([
      expect.stringContaining('model_list[0].litellm_params.model (model_name "mini") must not be empty'),
      expect.stringMatching(/model_list\[0\]\.litellm_params\.rpm .*must be at least 1/),
      expect.stringMatching(/litellm_settings\.responses\.background_mode\.ttl must be a whole number \(got 1\.5\)/),
    ]);
    expect(problems[0]).toContain('openai/gpt-4o-mini');
  });

  test('a price that is not a number is an error naming its YAML path, not a spend of 0', () => {
    const file = writeYaml(
      'model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/m\n      input_cost_per_token: cheap\n' +
        '    model_info:\n      output_cost_per_token: [1]\n',
    );
    const problems = problemsOf(() => loadConfig(file, { env: {}, logger: captureLogger().logger }));
    expect(problems).toEqual([
      expect.stringMatching(/model_list\[0\]\.litellm_params\.input_cost_per_token \(model_name "m"\) must be a number \(got a string\)\. Set it to the price of one input token/),
      expect.stringMatching(/model_list\[0\]\.model_info\.output_cost_per_token \(model_name "m"\) must be a number \(got a list\)/),
    ]);
  });

  test('a negative price is reported under its YAML path when the file is loaded, not under the options path later', () => {
    const file = writeYaml('model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/m\n    model_info:\n      output_cost_per_token: -1\n');
    const problems = problemsOf(() => loadConfig(file, { env: {}, logger: captureLogger().logger }));
    expect(problems).toEqual([expect.stringMatching(/^.*config\.yaml: model_list\[0\]\.model_info\.output_cost_per_token \(model_name "m"\) must be at least 0 \(got -1\)/)]);
    expect(problems.join('\n')).not.toMatch(/models\[0\]|outputCostPerToken/);
  });

  test('prices are read from litellm_params first, then model_info, numbers written as strings included', () => {
    const file = writeYaml(
      'model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/m\n      input_cost_per_token: "0.002"\n' +
        '    model_info:\n      input_cost_per_token: 0.5\n      output_cost_per_token: 0.003\n',
    );
    const [d] = loadConfig(file, { env: {}, logger: captureLogger().logger }).models ?? [];
    expect(d).toMatchObject({ inputCostPerToken: 0.002, outputCostPerToken: 0.003 });
  });

  test('an api_base that is not an http(s) URL is an error', () => {
    const file = writeYaml('model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/m\n      api_base: localhost:8000/v1\n');
    expect(problemsOf(() => loadConfig(file, { env: {}, logger: captureLogger().logger }))[0]).toMatch(
      /model_list\[0\]\.litellm_params\.api_base .*is not an http\(s\) URL/,
    );
  });

  test('an unknown key in the responses_polling section is an error with a suggestion', () => {
    const file = writeYaml('responses_polling:\n  keyPrefix: "x:"\n  worker:\n    lease_msec: 5000\n');
    const problems = problemsOf(() => loadConfig(file, { env: {}, logger: captureLogger().logger }));
    expect(problems).toEqual([
      expect.stringMatching(/responses_polling\.keyPrefix is not a known setting\. Did you mean key_prefix\?/),
      expect.stringMatching(/responses_polling\.worker\.lease_msec is not a known setting\. Did you mean lease_ms\?/),
    ]);
  });

  test('responses_polling.conversation sets the caps on expanding a chain inline, and names a bad value by its YAML path', () => {
    const file = writeYaml('responses_polling:\n  conversation:\n    max_turns: 8\n    max_bytes: 4096\n', 'conversation.yaml');
    expect(loadConfig(file, { env: {}, logger: captureLogger().logger }).conversation).toEqual({ maxTurns: 8, maxBytes: 4096 });
    const bad = writeYaml('responses_polling:\n  conversation:\n    max_turns: 0\n', 'conversation-bad.yaml');
    expect(problemsOf(() => loadConfig(bad, { env: {}, logger: captureLogger().logger }))[0]).toMatch(/responses_polling\.conversation\.max_turns/);
  });

  test('responses_polling.key_parallel_limit is read into keyParallelLimit, and a bad value names the choices', () => {
    const file = writeYaml('responses_polling:\n  key_parallel_limit: queue\n', 'key-parallel.yaml');
    expect(loadConfig(file, { env: {}, logger: captureLogger().logger }).keyParallelLimit).toBe('queue');
    const bad = writeYaml('responses_polling:\n  key_parallel_limit: wait\n', 'key-parallel-bad.yaml');
    expect(problemsOf(() => loadConfig(bad, { env: {}, logger: captureLogger().logger })).join('\n')).toMatch(/responses_polling\.key_parallel_limit[\s\S]*"refuse"[\s\S]*"queue"/);
  });

  test('responses_polling.metrics turns metrics off or renames them, and refuses a bad prefix', () => {
    const off = writeYaml('responses_polling:\n  metrics: false\n', 'metrics-off.yaml');
    expect(loadConfig(off, { env: {}, logger: captureLogger().logger }).metrics).toBe(false);
    const named = writeYaml('responses_polling:\n  metrics:\n    prefix: llm_\n', 'metrics-prefix.yaml');
    const options = loadConfig(named, { env: {}, logger: captureLogger().logger });
    expect(options.metrics).toEqual({ prefix: 'llm_' });
    expect(resolveOptions({ ...options, store: new MemoryStore(), auth: 'none' }).metrics.registry.getSingleMetric('llm_responses_total')).toBeDefined();
    const bad = writeYaml('responses_polling:\n  metrics:\n    prefix: "bad prefix"\n', 'metrics-bad.yaml');
    expect(problemsOf(() => loadConfig(bad, { env: {}, logger: captureLogger().logger })).join('\n')).toMatch(/responses_polling\.metrics\.prefix[\s\S]*Prometheus name prefix/);
  });

  test('responses_polling.worker reads the response caps, with defaults when absent and errors under their YAML path', () => {
    const file = writeYaml(
      'responses_polling:\n  worker:\n    max_response_bytes: 1048576\n    max_response_events: 5000\n    max_response_ms: 600000\n    max_event_bytes: 65536\n',
      'caps.yaml',
    );
    const options = loadConfig(file, { env: {}, logger: captureLogger().logger });
    expect(options.worker).toMatchObject({ maxResponseBytes: 1048576, maxResponseEvents: 5000, maxResponseMs: 600000, maxEventBytes: 65536 });
    const defaults = resolveOptions({ store: new MemoryStore(), auth: 'none' }).worker;
    expect(defaults).toMatchObject({ maxResponseBytes: 33554432, maxResponseEvents: 200000, maxResponseMs: 3600000, maxEventBytes: 16777216 });
    const bad = writeYaml('responses_polling:\n  worker:\n    max_event_bytes: 0\n', 'caps-bad.yaml');
    expect(problemsOf(() => loadConfig(bad, { env: {}, logger: captureLogger().logger })).join('\n')).toMatch(/responses_polling\.worker\.max_event_bytes/);
  });

  test('responses_polling.stream_followers sets the follower caps, stall timeout and page sizes, and refuses a bad value', () => {
    const file = writeYaml(
      'responses_polling:\n  stream_followers:\n    max_per_response: 5\n    max_per_principal: 50\n    stall_timeout_ms: 10000\n    page_events: 200\n    page_bytes: 65536\n',
      'followers.yaml',
    );
    const options = loadConfig(file, { env: {}, logger: captureLogger().logger });
    expect(options.streamFollowers).toEqual({ maxPerResponse: 5, maxPerPrincipal: 50, stallTimeoutMs: 10000, pageEvents: 200, pageBytes: 65536 });
    expect(resolveOptions({ ...options, store: new MemoryStore(), auth: 'none' }).streamFollowers).toEqual(options.streamFollowers);
    const bad = writeYaml('responses_polling:\n  stream_followers:\n    max_per_response: 0\n    page_size: 10\n', 'followers-bad.yaml');
    const problems = problemsOf(() => loadConfig(bad, { env: {}, logger: captureLogger().logger })).join('\n');
    expect(problems).toMatch(/responses_polling\.stream_followers\.max_per_response/);
    expect(problems).toMatch(/responses_polling\.stream_followers\.page_size is not a known setting/);
  });

  test('a YAML syntax error names the file and line', () => {
    const file = writeYaml('model_list:\n  - model_name: a\n    litellm_params:\n      model: openai/a\n     api_key: "sk-secret-on-bad-line\n');
    const problems = problemsOf(() => loadConfig(file, { env: {}, logger: captureLogger().logger }));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: YAML syntax error`));
    expect(problems[0]).not.toContain('sk-secret-on-bad-line');
  });

  test('a missing file is an error that shows where it was looked for', () => {
    const problems = problemsOf(() => loadConfig(path.join(dir, 'nope.yaml'), { env: {} }));
    expect(problems[0]).toMatch(/cannot read the configuration file \(ENOENT/);
  });

  test('an empty file is an error', () => {
    expect(problemsOf(() => loadConfig(writeYaml('# nothing\n'), { env: {} }))[0]).toMatch(/empty/);
  });

  test('a relative path is resolved from the current directory', () => {
    writeYaml('general_settings:\n  master_key: sk-relative\n', 'relative.yaml');
    jest.spyOn(process, 'cwd').mockReturnValue(dir);
    expect(loadConfig('relative.yaml', { env: {}, logger: captureLogger().logger }).masterKey).toBe('sk-relative');
  });
});

describe('os.environ/ values', () => {
  test('are read from the given environment anywhere in the read settings, numbers included', () => {
    const file = writeYaml(
      [
        'model_list:',
        '  - model_name: m',
        '    litellm_params:',
        '      model: openai/m',
        '      api_key: os.environ/MY_KEY',
        '      rpm: os.environ/MY_RPM',
        'litellm_settings:',
        '  responses:',
        '    background_mode:',
        '      ttl: os.environ/RP_TTL',
      ].join('\n'),
    );
    const options = loadConfig(file, { env: { MY_KEY: 'sk-env', MY_RPM: '42', RP_TTL: '600' }, logger: captureLogger().logger });
    expect(options.models?.[0]).toMatchObject({ apiKey: 'sk-env', rpm: 42 });
    expect(options.backgroundMode?.ttl).toBe(600);
  });

  test('an unset variable leaves the value empty with one warning naming the variable and every path', () => {
    const file = writeYaml(
      [
        'model_list:',
        '  - model_name: a',
        '    litellm_params: { model: openai/a, api_key: os.environ/MISSING_KEY }',
        '  - model_name: b',
        '    litellm_params: { model: openai/b, api_key: os.environ/MISSING_KEY }',
      ].join('\n'),
    );
    const { logger, warnings } = captureLogger();
    const options = loadConfig(file, { env: {}, logger });
    expect(options.models?.[0].apiKey).toBeUndefined();
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0].message).toContain('os.environ/MISSING_KEY is not set');
    expect(warnings()[0].fields).toMatchObject({
      variable: 'MISSING_KEY',
      paths: ['model_list[0].litellm_params.api_key', 'model_list[1].litellm_params.api_key'],
    });
  });

  test('an unset variable inside an ignored section is not warned about on its own', () => {
    const file = writeYaml('router_settings:\n  redis_password: os.environ/NOT_SET\n');
    const { logger, warnings } = captureLogger();
    loadConfig(file, { env: {}, logger });
    expect(warnings().map((w) => w.message).join('\n')).not.toContain('NOT_SET');
  });

  test('a master key that reads an unset variable is an error, so the routes never open by accident', () => {
    const file = writeYaml('general_settings:\n  master_key: os.environ/LITELLM_MASTER_KEY\n');
    const [problem] = problemsOf(() => loadConfig(file, { env: {}, logger: captureLogger().logger }));
    expect(problem).toContain('general_settings.master_key reads os.environ/LITELLM_MASTER_KEY, which is not set');
  });
});

describe('general_settings.virtual_keys and responses_polling.auth', () => {
  const sha = (v: string) => createHash('sha256').update(v).digest('hex');
  const KEY_HASH = sha('sk-team-b');

  test('maps each entry onto virtualKeys: key from os.environ/, key_hash, key_alias or id, limits and models', () => {
    const file = writeYaml(
      [
        'general_settings:',
        '  master_key: sk-master',
        '  virtual_keys:',
        '    - key: os.environ/TEAM_A_KEY',
        '      key_alias: team-a',
        '      rpm_limit: "60"',
        '      tpm_limit: 100000',
        '      max_parallel_requests: 5',
        '      max_budget: 12.5',
        '      models: [gpt-4o-mini]',
        `    - key_hash: ${KEY_HASH}`,
        '      id: team-b',
        '    - key: sk-plain-c',
      ].join('\n'),
    );
    const { logger, warnings } = captureLogger();
    const options = loadConfig(file, { env: { TEAM_A_KEY: 'sk-team-a-from-env' }, logger });
    expect(options.virtualKeys).toEqual([
      { key: 'sk-team-a-from-env', id: 'team-a', rpmLimit: 60, tpmLimit: 100000, maxParallelRequests: 5, maxBudget: 12.5, models: ['gpt-4o-mini'] },
      { keyHash: KEY_HASH, id: 'team-b' },
      { key: 'sk-plain-c' },
    ]);
    expect(warnings()).toEqual([]);
  });

  test('the resolved configuration holds digests only, never a plaintext key', () => {
    const file = writeYaml(
      ['general_settings:', '  master_key: sk-master-plain', '  virtual_keys:', '    - key: os.environ/TEAM_A_KEY', '    - key: sk-plain-c'].join(
        '\n',
      ),
    );
    const loaded = loadConfig(file, { env: { TEAM_A_KEY: 'sk-team-a-from-env' }, logger: captureLogger().logger });
    const store = new MemoryStore();
    try {
      const cfg = resolveOptions({ ...loaded, store }, {});
      expect(cfg.virtualKeys.map((k) => k.hash)).toEqual([sha('sk-team-a-from-env'), sha('sk-plain-c')]);
      const json = JSON.stringify({ ...cfg, store: undefined, logger: undefined });
      for (const key of ['sk-master-plain', 'sk-team-a-from-env', 'sk-plain-c']) expect(json).not.toContain(key);
    } finally {
      void store.close();
    }
  });

  test('an entry without key or key_hash, or with both, is an error naming the entry and the fix', () => {
    const file = writeYaml(
      ['general_settings:', '  virtual_keys:', '    - key_alias: lonely', `    - key: sk-both`, `      key_hash: ${KEY_HASH}`].join('\n'),
    );
    const problems = problemsOf(() => loadConfig(file, { env: {}, logger: captureLogger().logger }));
    const fix = 'Give each entry exactly one of key (the key clients send, or os.environ/NAME) and key_hash (its SHA-256 hex digest).';
    expect(problems).toEqual([
      `${file}: general_settings.virtual_keys[0] has neither key nor key_hash. ${fix}`,
      `${file}: general_settings.virtual_keys[1] has both key and key_hash. ${fix}`,
    ]);
    expect(problems.join('\n')).not.toContain('sk-both');
  });

  test('a virtual key that reads an unset variable is an error naming the variable', () => {
    const file = writeYaml('general_settings:\n  virtual_keys:\n    - key: os.environ/TEAM_A_KEY\n      key_alias: team-a\n');
    const problems = problemsOf(() => loadConfig(file, { env: {}, logger: captureLogger().logger }));
    expect(problems[0]).toBe(
      `${file}: general_settings.virtual_keys[0].key reads os.environ/TEAM_A_KEY, which is not set. Set TEAM_A_KEY in the environment, or remove that virtual key.`,
    );
  });

  test('key_alias and id together, a duplicate key and a reserved id are errors with YAML paths', () => {
    const file = writeYaml(
      [
        'general_settings:',
        '  virtual_keys:',
        '    - { key: sk-a, key_alias: a, id: a }',
        '    - { key: sk-b }',
        `    - { key_hash: ${sha('sk-b')} }`,
        '    - { key: sk-c, key_alias: anonymous }',
      ].join('\n'),
    );
    const problems = problemsOf(() => loadConfig(file, { env: {}, logger: captureLogger().logger }));
    expect(problems).toEqual([
      expect.stringContaining(`${file}: general_settings.virtual_keys[0] has both key_alias and id, which name the same thing.`),
    ]);
    const valid = writeYaml(
      ['general_settings:', '  virtual_keys:', '    - { key: sk-b }', `    - { key_hash: ${sha('sk-b')} }`, '    - { key: sk-c, key_alias: anonymous }'].join(
        '\n',
      ),
    );
    expect(problemsOf(() => loadConfig(valid, { env: {}, logger: captureLogger().logger }))).toEqual([
      `${valid}: general_settings.virtual_keys[1] has the same key as general_settings.virtual_keys[0]. Give every virtual key its own key.`,
      `${valid}: general_settings.virtual_keys[2] has the id "anonymous", which is reserved. Choose another id.`,
    ]);
  });

  test('responses_polling.auth: none maps to auth none, and is refused next to a master key', () => {
    const open = writeYaml('responses_polling:\n  auth: none\n');
    expect(loadConfig(open, { env: {}, logger: captureLogger().logger }).auth).toBe('none');
    const both = writeYaml('general_settings:\n  master_key: sk-m\nresponses_polling:\n  auth: none\n');
    expect(problemsOf(() => loadConfig(both, { env: {}, logger: captureLogger().logger }))).toEqual([
      `${both}: responses_polling.auth is none, but general_settings.master_key is set too. ` +
        'Remove auth: none to require those credentials, or remove general_settings.master_key or virtual_keys to run without authentication behind your own.',
    ]);
  });
});

describe('cache_params', () => {
  test('type redis with a url becomes options.redis', () => {
    const file = writeYaml('litellm_settings:\n  cache: true\n  cache_params:\n    type: redis\n    url: redis://cache:6379/1\n');
    expect(loadConfig(file, { env: {}, logger: captureLogger().logger }).redis).toBe('redis://cache:6379/1');
  });

  test('type redis with fields maps ssl to tls and port strings to numbers', () => {
    const file = writeYaml(
      'litellm_settings:\n  cache_params:\n    type: redis\n    host: cache\n    port: "6379"\n    username: app\n    db: 2\n    ssl: true\n',
    );
    expect(loadConfig(file, { env: {}, logger: captureLogger().logger }).redis).toEqual({
      host: 'cache',
      port: 6379,
      username: 'app',
      db: 2,
      tls: true,
    });
  });

  test('type redis without fields falls back to LiteLLM’s REDIS_* environment variables', () => {
    const file = writeYaml('litellm_settings:\n  cache_params:\n    type: redis\n');
    const env = { REDIS_HOST: 'env-host', REDIS_PORT: '6390', REDIS_PASSWORD: 'pw' };
    expect(loadConfig(file, { env, logger: captureLogger().logger }).redis).toEqual({ host: 'env-host', port: 6390, password: 'pw' });
    expect(loadConfig(file, { env: { REDIS_URL: 'redis://u:6379' }, logger: captureLogger().logger }).redis).toBe('redis://u:6379');
  });

  test('a type other than redis is a warning, not an error, and no Redis is configured', () => {
    const file = writeYaml('litellm_settings:\n  cache_params:\n    type: s3\n    s3_bucket_name: b\n');
    const { logger, warnings } = captureLogger();
    const options = loadConfig(file, { env: {}, logger });
    expect(options.redis).toBeUndefined();
    const typeWarning = warnings().filter((w) => /only redis is supported/.test(w.message));
    expect(typeWarning).toHaveLength(1);
    expect(typeWarning[0].message).toMatch(/in-memory store/);
  });
});

describe('Redis Cluster', () => {
  test("cache_params.redis_startup_nodes (LiteLLM's cluster form) becomes a cluster, credentials from the file or REDIS_*", () => {
    const file = writeYaml(
      'litellm_settings:\n  cache_params:\n    type: redis\n    redis_startup_nodes:\n      - host: 10.0.0.1\n        port: "7001"\n' +
        '      - {host: 10.0.0.2, port: 7002}\n    ssl: true\n',
    );
    expect(loadConfig(file, { env: { REDIS_PASSWORD: 'pw' }, logger: captureLogger().logger }).redis).toEqual({
      cluster: [
        { host: '10.0.0.1', port: 7001 },
        { host: '10.0.0.2', port: 7002 },
      ],
      password: 'pw',
      tls: true,
    });
  });

  test('responses_polling.cluster lists startup nodes as URLs or host and port', () => {
    const file = writeYaml(
      'responses_polling:\n  cluster:\n    nodes: ["redis://10.0.0.1:7001", {host: 10.0.0.2}]\n    username: app\n    password: os.environ/RP_PW\n',
    );
    expect(loadConfig(file, { env: { RP_PW: 'secret-pw' }, logger: captureLogger().logger }).redis).toEqual({
      cluster: ['redis://10.0.0.1:7001', { host: '10.0.0.2' }],
      username: 'app',
      password: 'secret-pw',
    });
  });

  test('cluster mistakes are errors naming the YAML path, never a password', () => {
    const logger = captureLogger().logger;
    const badNode = writeYaml('responses_polling:\n  cluster:\n    nodes: ["http://:pw-in-url@10.0.0.1:7001", {port: 7002}]\n', 'bad-node.yaml');
    const nodeProblems = problemsOf(() => loadConfig(badNode, { env: {}, logger }));
    expect(nodeProblems).toEqual([
      expect.stringMatching(/responses_polling\.cluster\.nodes\[0\] is not a redis:\/\/ or rediss:\/\/ URL/),
      expect.stringMatching(/responses_polling\.cluster\.nodes\[1\]\.host is required/),
    ]);
    expect(nodeProblems.join('\n')).not.toContain('pw-in-url');
    const both = writeYaml(
      'litellm_settings:\n  cache_params:\n    type: redis\n    host: cache\n    redis_startup_nodes: [{host: 10.0.0.1}]\n' +
        'responses_polling:\n  cluster:\n    nodes: ["redis://10.0.0.1:7001"]\n',
      'both.yaml',
    );
    expect(problemsOf(() => loadConfig(both, { env: {}, logger }))).toEqual([
      expect.stringMatching(/responses_polling\.cluster and litellm_settings\.cache_params \(type: redis\) both configure Redis/),
    ]);
    const mixed = writeYaml('litellm_settings:\n  cache_params:\n    type: redis\n    host: cache\n    redis_startup_nodes: [{host: 10.0.0.1}]\n', 'mixed.yaml');
    expect(problemsOf(() => loadConfig(mixed, { env: {}, logger }))).toEqual([
      expect.stringMatching(/litellm_settings\.cache_params has redis_startup_nodes and host: a Redis Cluster is reached through its startup nodes only/),
    ]);
  });

  test('the resolved cluster options name every startup node and the shared credentials', () => {
    expect(redisChoice({ cluster: ['redis://10.0.0.1:7001', { host: '10.0.0.2', port: 7002 }], password: 'pw', tls: true })).toEqual({
      cluster: {
        rootNodes: [{ url: 'redis://10.0.0.1:7001' }, { url: 'rediss://10.0.0.2:7002' }],
        defaults: { password: 'pw', socket: { tls: true } },
      },
    });
    expect(problemsOf(() => resolveOptions({ auth: 'none', redis: { cluster: [{ host: 'a' }], host: 'b', db: 1 } }, {}))).toEqual([
      expect.stringMatching(/^redis has cluster and host, db: a Redis Cluster is reached through its startup nodes only/),
    ]);
  });
});

describe('secrets', () => {
  test('never appear in errors or warnings, whatever is wrong around them', () => {
    const file = writeYaml(
      [
        'model_list:',
        '  - model_name: numeric-key',
        '    litellm_params:',
        '      model: openai/x',
        '      api_key: 123456789012',
        '  - model_name: env-key',
        '    litellm_params:',
        '      model: anthropic/x',
        '      api_key: os.environ/ANTHROPIC_KEY',
        '      rpm: os.environ/ANTHROPIC_KEY',
        'general_settings:',
        '  master_key: 555666777',
        '  database_url: postgres://admin:db-secret-pw@db:5432/litellm',
        'litellm_settings:',
        '  cache_params:',
        '    type: redis',
        '    password: 98765',
        '    url: http://:redis-url-secret@cache:6379',
      ].join('\n'),
    );
    const { logger, lines } = captureLogger();
    const problems = problemsOf(() => loadConfig(file, { env: { ANTHROPIC_KEY: 'sk-ant-env-secret' }, logger }));
    expect(problems.length).toBeGreaterThanOrEqual(5);
    const text = `${problems.join('\n')}\n${JSON.stringify(lines)}`;
    for (const secret of ['123456789012', 'sk-ant-env-secret', '555666777', 'db-secret-pw', '98765', 'redis-url-secret']) {
      expect(text).not.toContain(secret);
    }
  });
});
