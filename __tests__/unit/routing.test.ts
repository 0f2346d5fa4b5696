// Routing decisions, including LiteLLM's should_use_polling_for_request and native_background_mode
// cases (tests/proxy_unit_tests/test_response_polling_handler.py), ported as behaviour sentences.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DeploymentConfig } from '../../lib/config/options';
import { loadConfig } from '../../lib/config/load-config';
import { resolveOptions } from '../../lib/config/resolve';
import { deploymentOf, deploymentRef, nativeRetentionSeconds } from '../../lib/middleware/native-background';
import { MemoryStore } from '../../lib/store/memory-store';
import {
  defaultApiBase,
  findDeployments,
  isNativeBackgroundModel,
  isNativeBackgroundRequest,
  providerOfModel,
  shouldUsePolling,
  splitModel,
  type RoutingConfig,
} from '../../lib/config/routing';

function deployment(modelName: string, model: string, provider?: string): DeploymentConfig {
  const split = splitModel(model, provider);
  return {
    modelName,
    model,
    provider: split.provider,
    upstreamModel: split.upstreamModel,
    apiBase: 'https://upstream.example/v1',
    apiKey: undefined,
    upstreamApi: 'responses',
    apiVersion: undefined,
    rpm: undefined,
    tpm: undefined,
    inputCostPerToken: undefined,
    outputCostPerToken: undefined,
  };
}

function config(opts: { polling?: 'all' | string[] | false; native?: string[]; models?: DeploymentConfig[] } = {}): RoutingConfig {
  return {
    models: opts.models ?? [],
    backgroundMode: { pollingViaCache: opts.polling ?? 'all', nativeBackgroundMode: opts.native ?? [], ttl: 3600 },
  };
}

describe('providerOfModel', () => {
  test('takes the provider from a provider/model name', () => {
    expect(providerOfModel('openai/gpt-4o')).toBe('openai');
  });

  test('gives no provider for a name without a slash', () => {
    expect(providerOfModel('gpt-5')).toBeUndefined();
  });

  test('gives no provider for an empty name', () => {
    expect(providerOfModel('')).toBeUndefined();
  });

  test('splits at the first slash when the name has several', () => {
    expect(providerOfModel('hosted_vllm/meta-llama/Llama-3.1-8B')).toBe('hosted_vllm');
  });

  test('gives no provider when the name starts with a slash', () => {
    expect(providerOfModel('/gpt-4o')).toBeUndefined();
  });
});

describe('splitModel and defaultApiBase', () => {
  test('splits provider/name at the first slash', () => {
    expect(splitModel('hosted_vllm/meta-llama/Llama-3.1-8B')).toEqual({
      provider: 'hosted_vllm',
      upstreamModel: 'meta-llama/Llama-3.1-8B',
    });
  });

  test('with an explicit provider, sends a name without that prefix unchanged', () => {
    expect(splitModel('meta-llama/Llama-3.1-8B', 'openai')).toEqual({ provider: 'openai', upstreamModel: 'meta-llama/Llama-3.1-8B' });
  });

  test('with an explicit provider, drops a leading prefix equal to it', () => {
    expect(splitModel('openai/gpt-4o', 'openai')).toEqual({ provider: 'openai', upstreamModel: 'gpt-4o' });
  });

  test('only openai has a default base URL', () => {
    expect(defaultApiBase('openai')).toBe('https://api.openai.com/v1');
    expect(defaultApiBase('anthropic')).toBeUndefined();
    expect(defaultApiBase('toString')).toBeUndefined();
  });
});

describe('findDeployments', () => {
  const models = [
    deployment('gpt-4o', 'openai/gpt-4o'),
    deployment('gpt-4o', 'azure/gpt-4o-eastus'),
    deployment('*', 'openai/*'),
    deployment('anthropic/*', 'anthropic/*'),
    deployment('claude-*', 'anthropic/claude-*-latest'),
  ];

  test('returns every deployment with the exact model name', () => {
    expect(findDeployments(models, 'gpt-4o').map((d) => d.model)).toEqual(['openai/gpt-4o', 'azure/gpt-4o-eastus']);
  });

  test('prefers exact matches over wildcards that also match', () => {
    expect(findDeployments(models, 'gpt-4o').every((d) => !d.modelName.endsWith('*'))).toBe(true);
  });

  test('substitutes the matched remainder for * in a wildcard deployment', () => {
    const [d] = findDeployments(models, 'gpt-4.1-mini');
    expect(d).toMatchObject({ modelName: '*', model: 'openai/gpt-4.1-mini', provider: 'openai', upstreamModel: 'gpt-4.1-mini' });
  });

  test('uses the most specific wildcard when several match', () => {
    const found = findDeployments(models, 'anthropic/claude-3-5-haiku');
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ modelName: 'anthropic/*', upstreamModel: 'claude-3-5-haiku' });
  });

  test('substitutes * in the middle of the upstream model', () => {
    expect(findDeployments(models, 'claude-sonnet')[0].upstreamModel).toBe('claude-sonnet-latest');
  });

  test('returns nothing for an unknown model when no wildcard exists', () => {
    expect(findDeployments(models.slice(0, 2), 'unknown-model')).toEqual([]);
  });

  test('returns copies, so callers cannot change the configuration', () => {
    const [d] = findDeployments(models, 'gpt-4o');
    d.upstreamModel = 'changed';
    expect(models[0].upstreamModel).toBe('gpt-4o');
  });
});

describe('shouldUsePolling (LiteLLM should_use_polling_for_request)', () => {
  test('polls when background is true and polling_via_cache is "all"', () => {
    expect(shouldUsePolling(config({ polling: 'all' }), { model: 'gpt-4o', background: true })).toBe(true);
  });

  test('does not poll when background is false', () => {
    expect(shouldUsePolling(config({ polling: 'all' }), { model: 'gpt-4o', background: false })).toBe(false);
  });

  test('does not poll when background is missing or not exactly true', () => {
    const cfg = config({ polling: 'all' });
    expect(shouldUsePolling(cfg, { model: 'gpt-4o' })).toBe(false);
    expect(shouldUsePolling(cfg, { model: 'gpt-4o', background: 'true' })).toBe(false);
    expect(shouldUsePolling(cfg, undefined)).toBe(false);
  });

  test('does not poll when polling_via_cache is false', () => {
    expect(shouldUsePolling(config({ polling: false }), { model: 'gpt-4o', background: true })).toBe(false);
  });

  test('polls when the provider prefix of the requested model is in the list', () => {
    expect(shouldUsePolling(config({ polling: ['openai', 'anthropic'] }), { model: 'openai/gpt-4o', background: true })).toBe(true);
  });

  test('does not poll when the provider prefix is not in the list', () => {
    expect(shouldUsePolling(config({ polling: ['openai'] }), { model: 'anthropic/claude-3', background: true })).toBe(false);
  });

  test('decides a provider/model name by its prefix alone, as LiteLLM does', () => {
    const cfg = config({ polling: ['openai'], models: [deployment('my-org/llama', 'openai/llama-3')] });
    expect(shouldUsePolling(cfg, { model: 'my-org/llama', background: true })).toBe(false);
  });

  test('looks a bare model name up in the deployments (single deployment)', () => {
    const cfg = config({ polling: ['openai'], models: [deployment('gpt-5', 'openai/gpt-5')] });
    expect(shouldUsePolling(cfg, { model: 'gpt-5', background: true })).toBe(true);
  });

  test('polls when any of several deployments of the model has a listed provider', () => {
    const cfg = config({
      polling: ['openai'],
      models: [deployment('gpt-4o', 'openai/gpt-4o'), deployment('gpt-4o', 'azure/gpt-4o-deployment')],
    });
    expect(shouldUsePolling(cfg, { model: 'gpt-4o', background: true })).toBe(true);
  });

  test('does not poll when no deployment of the model has a listed provider', () => {
    const cfg = config({ polling: ['openai', 'bedrock'], models: [deployment('claude-3', 'anthropic/claude-3-sonnet')] });
    expect(shouldUsePolling(cfg, { model: 'claude-3', background: true })).toBe(false);
  });

  test('uses the explicit provider (custom_llm_provider) of a deployment', () => {
    const cfg = config({ polling: ['openai'], models: [deployment('my-model', 'some-custom-model', 'openai')] });
    expect(shouldUsePolling(cfg, { model: 'my-model', background: true })).toBe(true);
  });

  test('does not poll a model that no deployment serves', () => {
    const cfg = config({ polling: ['openai'], models: [deployment('gpt-5', 'openai/gpt-5')] });
    expect(shouldUsePolling(cfg, { model: 'unknown-model', background: true })).toBe(false);
  });

  test('finds the provider of a model served by a wildcard deployment', () => {
    const cfg = config({ polling: ['openai'], models: [deployment('*', 'openai/*')] });
    expect(shouldUsePolling(cfg, { model: 'gpt-4.1', background: true })).toBe(true);
  });

  test('does not poll with an empty provider list', () => {
    const cfg = config({ polling: [], models: [deployment('gpt-5', 'openai/gpt-5')] });
    expect(shouldUsePolling(cfg, { model: 'gpt-5', background: true })).toBe(false);
  });
});

describe('native background mode (LiteLLM native_background_mode)', () => {
  test('does not poll a model listed in native background mode', () => {
    const cfg = config({ polling: 'all', native: ['o4-mini-deep-research', 'o3-deep-research'] });
    expect(shouldUsePolling(cfg, { model: 'o4-mini-deep-research', background: true })).toBe(false);
  });

  test('native background mode wins even when the provider is in the polling list', () => {
    const cfg = config({ polling: ['openai'], native: ['openai/o4-mini-deep-research'] });
    expect(shouldUsePolling(cfg, { model: 'openai/o4-mini-deep-research', background: true })).toBe(false);
  });

  test('polls a model that is not listed in native background mode', () => {
    const cfg = config({ polling: 'all', native: ['o4-mini-deep-research'] });
    expect(shouldUsePolling(cfg, { model: 'gpt-4o', background: true })).toBe(true);
  });

  test('polls as usual when the native list is empty', () => {
    expect(shouldUsePolling(config({ polling: 'all', native: [] }), { model: 'gpt-4o', background: true })).toBe(true);
  });

  test('requires an exact match: o4-mini does not match o4-mini-deep-research', () => {
    const cfg = config({ polling: 'all', native: ['o4-mini-deep-research'] });
    expect(isNativeBackgroundModel(cfg, 'o4-mini')).toBe(false);
    expect(shouldUsePolling(cfg, { model: 'o4-mini', background: true })).toBe(true);
  });

  test('does not normalise a provider prefix in the request', () => {
    const cfg = config({ polling: ['openai'], native: ['o4-mini-deep-research'] });
    expect(isNativeBackgroundModel(cfg, 'openai/o4-mini-deep-research')).toBe(false);
    expect(shouldUsePolling(cfg, { model: 'openai/o4-mini-deep-research', background: true })).toBe(true);
  });

  test('matches the model name clients send, not the deployment it routes to', () => {
    const cfg = config({
      polling: ['openai'],
      native: ['deep-research'],
      models: [deployment('deep-research', 'openai/o4-mini-deep-research')],
    });
    expect(isNativeBackgroundModel(cfg, 'deep-research')).toBe(true);
    expect(shouldUsePolling(cfg, { model: 'deep-research', background: true })).toBe(false);
  });
});

describe('native background mode: which requests go native, and where a remembered id goes back to', () => {
  const bodyOf = (model: string, background?: boolean) => ({ model, input: 'x', ...(background === undefined ? {} : { background }) });
  let dir: string;
  const store = new MemoryStore();

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'routing-native-'));
  });

  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await store.close();
  });

  test('with the native list unset, the resolved list is empty and a background request polls as usual', () => {
    const cfg = resolveOptions({ store, models: [{ modelName: 'o4-mini-deep-research', model: 'openai/o4-mini-deep-research' }], backgroundMode: { pollingViaCache: 'all' }, auth: 'none' }, {});
    expect(cfg.backgroundMode.nativeBackgroundMode).toEqual([]);
    expect(isNativeBackgroundRequest(cfg, bodyOf('o4-mini-deep-research', true))).toBe(false);
    expect(shouldUsePolling(cfg, bodyOf('o4-mini-deep-research', true))).toBe(true);
  });

  test('a YAML config without native_background_mode leaves the list unset, one with it lists exactly those names', () => {
    const write = (name: string, extra: string) => {
      const file = join(dir, name);
      writeFileSync(
        file,
        `model_list:\n  - model_name: o4-mini-deep-research\n    litellm_params:\n      model: openai/o4-mini-deep-research\n` +
          `litellm_settings:\n  responses:\n    background_mode:\n      polling_via_cache: all\n${extra}`,
      );
      return resolveOptions({ ...loadConfig(file, { env: {} }), store, auth: 'none' }, {});
    };
    const unset = write('unset.yaml', '');
    expect(isNativeBackgroundRequest(unset, bodyOf('o4-mini-deep-research', true))).toBe(false);
    const listed = write('listed.yaml', '      native_background_mode: ["o4-mini-deep-research"]\n');
    expect(listed.backgroundMode.nativeBackgroundMode).toEqual(['o4-mini-deep-research']);
    expect(isNativeBackgroundRequest(listed, bodyOf('o4-mini-deep-research', true))).toBe(true);
    expect(isNativeBackgroundRequest(listed, bodyOf('openai/o4-mini-deep-research', true))).toBe(false);
  });

  test('goes native only with background exactly true, and whatever the polling setting', () => {
    for (const polling of ['all', ['openai'], false] as Array<'all' | string[] | false>) {
      const cfg = config({ polling, native: ['deep-research'] });
      expect(isNativeBackgroundRequest(cfg, bodyOf('deep-research', true))).toBe(true);
      expect(isNativeBackgroundRequest(cfg, bodyOf('deep-research', false))).toBe(false);
      expect(isNativeBackgroundRequest(cfg, bodyOf('deep-research'))).toBe(false);
    }
  });

  test('the model is found through the model list, and the deployment reference names that entry without its key', () => {
    const keyed = (name: string, model: string, key: string) => ({ ...deployment(name, model), apiKey: key });
    const models = [keyed('gpt-4o', 'openai/gpt-4o', 'sk-a'), keyed('deep-research', 'openai/o4-mini-deep-research', 'sk-b')];
    const [served] = findDeployments(models, 'deep-research');
    const ref = deploymentRef({ models }, served);
    expect(ref).toEqual({ index: 1, modelName: 'deep-research', apiBase: 'https://upstream.example/v1' });
    expect(JSON.stringify(ref)).not.toContain('sk-b');
    expect(deploymentOf({ models }, ref)?.apiKey).toBe('sk-b');
  });

  test('a remembered deployment is found again after the list was reordered, with its current key, and is gone once removed', () => {
    const ref = { index: 0, modelName: 'deep-research', apiBase: 'https://upstream.example/v1' };
    const rotated = { ...deployment('deep-research', 'openai/o4-mini-deep-research'), apiKey: 'sk-rotated' };
    expect(deploymentOf({ models: [deployment('gpt-4o', 'openai/gpt-4o'), rotated] }, ref)?.apiKey).toBe('sk-rotated');
    expect(deploymentOf({ models: [deployment('gpt-4o', 'openai/gpt-4o')] }, ref)).toBeUndefined();
  });

  test('native ids are kept at least 30 days, or the configured ttl when longer', () => {
    expect(nativeRetentionSeconds({ backgroundMode: { pollingViaCache: 'all', nativeBackgroundMode: [], ttl: 3600 } })).toBe(30 * 24 * 3600);
    expect(nativeRetentionSeconds({ backgroundMode: { pollingViaCache: 'all', nativeBackgroundMode: [], ttl: 90 * 24 * 3600 } })).toBe(90 * 24 * 3600);
  });
});
