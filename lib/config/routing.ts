// Pure routing decisions: how a deployment's model splits into provider and upstream name, which
// deployments serve a model name, and whether a request is served by polling via the store
// (LiteLLM's `should_use_polling_for_request`).

import { matchModelPattern } from './model-pattern';
import type { DeploymentConfig, ResponsesPollingConfig } from './options';

/** The parts of the configuration the routing decisions read. */
export type RoutingConfig = Pick<ResponsesPollingConfig, 'models' | 'backgroundMode'>;

/** The provider prefix of a `provider/model` name (`openai/gpt-4o` → `openai`); undefined without one. */
export function providerOfModel(name: string): string | undefined {
  const slash = name.indexOf('/');
  return slash > 0 ? name.slice(0, slash) : undefined;
}

/** Base URLs of providers that can be reached without an `apiBase`. */
const DEFAULT_API_BASES: Readonly<Record<string, string>> = {
  openai: 'https://api.openai.com/v1',
  groq: 'https://api.groq.com/openai/v1',
  deepseek: 'https://api.deepseek.com/v1',
  mistral: 'https://api.mistral.ai/v1',
  together_ai: 'https://api.together.xyz/v1',
  fireworks_ai: 'https://api.fireworks.ai/inference/v1',
  ollama: 'http://localhost:11434/v1',
  ollama_chat: 'http://localhost:11434/v1',
  lm_studio: 'http://localhost:1234/v1',
};

/**
 * Providers (LiteLLM's names) whose OpenAI-compatible servers offer Chat Completions but not the
 * Responses API: their deployments default to `upstreamApi: 'chat_completions'`.
 */
export const CHAT_COMPLETIONS_PROVIDERS: readonly string[] = [
  'hosted_vllm',
  'vllm',
  'sglang',
  'ollama',
  'ollama_chat',
  'lm_studio',
  'groq',
  'deepseek',
  'mistral',
  'together_ai',
  'fireworks_ai',
];

/** The base URL used for `provider` when a deployment sets none; undefined when there is none. */
export function defaultApiBase(provider: string): string | undefined {
  return Object.prototype.hasOwnProperty.call(DEFAULT_API_BASES, provider) ? DEFAULT_API_BASES[provider] : undefined;
}

/**
 * Splits a deployment's `model` the way LiteLLM does. With an explicit `provider`
 * (`custom_llm_provider`), a leading `provider/` is dropped and the rest is sent as is, so
 * `meta-llama/Llama-3-8B` can go to an `openai`-compatible server. Without one, the part before
 * the first `/` is the provider and the rest is the upstream model.
 */
export function splitModel(model: string, provider?: string): { provider: string; upstreamModel: string } {
  if (provider) {
    return { provider, upstreamModel: model.startsWith(`${provider}/`) ? model.slice(provider.length + 1) : model };
  }
  const slash = model.indexOf('/');
  return { provider: model.slice(0, slash), upstreamModel: model.slice(slash + 1) };
}

/**
 * The deployments that serve `requestedModel`, as copies. Exact `modelName` matches win. Otherwise
 * the wildcard deployments (`modelName` ending in `*`) whose prefix the name starts with; when
 * several wildcards match, only the longest prefix counts (as LiteLLM's pattern router prefers
 * the most specific pattern). In a wildcard match, `*` in `model` and `upstreamModel` is replaced
 * by the part of the name the wildcard matched.
 */
export function findDeployments(models: readonly DeploymentConfig[], requestedModel: string): DeploymentConfig[] {
  const exact = models.filter((d) => d.modelName === requestedModel);
  if (exact.length > 0) return exact.map((d) => ({ ...d }));

  let bestPrefix = -1;
  let matches: DeploymentConfig[] = [];
  for (const d of models) {
    const match = matchModelPattern(d.modelName, requestedModel);
    // An empty remainder would send no model name upstream.
    if (match === undefined || match.exact || match.rest === '') continue;
    const { prefix } = match;
    if (prefix.length > bestPrefix) {
      bestPrefix = prefix.length;
      matches = [];
    }
    if (prefix.length === bestPrefix) matches.push(d);
  }
  return matches.map((d) => {
    const rest = requestedModel.slice(bestPrefix);
    return { ...d, model: d.model.split('*').join(rest), upstreamModel: d.upstreamModel.split('*').join(rest) };
  });
}

/**
 * Whether `model` is served by the provider's own background mode. Exact string match, no
 * normalisation, as in LiteLLM: `openai/o4-mini-deep-research` does not match `o4-mini-deep-research`.
 */
export function isNativeBackgroundModel(config: RoutingConfig, model: string): boolean {
  return config.backgroundMode.nativeBackgroundMode.includes(model);
}

/** Whether a create body goes to the provider's own background mode: `background: true` and a listed model. */
export function isNativeBackgroundRequest(config: RoutingConfig, body: { model: string; background?: unknown }): boolean {
  return body.background === true && isNativeBackgroundModel(config, body.model);
}

/**
 * Whether a `POST /responses` body is served by polling via the store. True only when
 * `background` is `true`, polling is on (`"all"` or a provider list) and the model is not a
 * native-background model. With a provider list, a `provider/model` name is decided by its
 * prefix alone; a bare name polls when any deployment serving it has a listed provider.
 */
export function shouldUsePolling(config: RoutingConfig, body: unknown): boolean {
  const { background, model: rawModel } = (body ?? {}) as { background?: unknown; model?: unknown };
  if (background !== true) return false;
  const polling = config.backgroundMode.pollingViaCache;
  if (polling !== 'all' && !Array.isArray(polling)) return false;
  const model = typeof rawModel === 'string' ? rawModel : '';
  if (isNativeBackgroundModel(config, model)) return false;
  if (polling === 'all') return true;

  // LiteLLM looks the prefix up only: a `provider/model` name never falls back to the deployments.
  if (model.includes('/')) {
    const provider = providerOfModel(model);
    return provider !== undefined && polling.includes(provider);
  }
  return findDeployments(config.models, model).some((d) => polling.includes(d.provider));
}
