// The LiteLLM YAML layout this package reads, stated once: the JSON Schema (ajv) every read key is
// validated by, whose `option` annotations say where each value goes (yaml-reader.ts walks them).
// Other LiteLLM keys are allowed and reported as ignored by loadConfig; the package's own
// `responses_polling` section is strict, since a typo there would otherwise go unnoticed.

import type { SchemaObject, ValidateFunction } from 'ajv';
import { WARNING_CODES, type WarningCode } from '../errors';
import { ajv } from './ajv';
import { formatErrors } from './format-errors';
import {
  API_BASE,
  API_VERSION,
  backgroundModeSchema,
  CLUSTER_NODES,
  INPUT_COST,
  METRICS_PREFIX,
  MODEL_NAME,
  OUTPUT_COST,
  posInt,
  prop,
  PROVIDER,
  REDIS_FIELDS,
  REDIS_URL,
  RPM_FIX,
  same,
  TPM_FIX,
  tuningProperties,
  upstreamApiSchema,
  virtualKeySchema,
} from './schema-parts';

// Where LiteLLM allows a value in several places (rpm in the entry, litellm_params or model_info),
// the first one in schema order that the file sets wins: LiteLLM's router reads limits from the
// entry first, then litellm_params, then model_info; prices from litellm_params, then model_info.
const rpm = (): [string, SchemaObject] => same('yaml', 'rpm', posInt(RPM_FIX));
const tpm = (): [string, SchemaObject] => same('yaml', 'tpm', posInt(TPM_FIX));
const costs = (): [string, SchemaObject][] => [
  prop('yaml', 'inputCostPerToken', 'input_cost_per_token', INPUT_COST),
  prop('yaml', 'outputCostPerToken', 'output_cost_per_token', OUTPUT_COST),
];

const deploymentSchema: SchemaObject = {
  type: 'object',
  required: ['model_name', 'litellm_params'],
  fix: 'Write an entry with model_name and litellm_params: { model: provider/name }',
  properties: Object.fromEntries([
    prop('yaml', 'modelName', 'model_name', MODEL_NAME),
    rpm(),
    tpm(),
    [
      'litellm_params',
      {
        type: 'object',
        required: ['model'],
        fix: 'Write litellm_params with at least model: provider/name, e.g. model: openai/gpt-4o-mini',
        properties: Object.fromEntries([
          // No providerModel check here: like LiteLLM, loadConfig reads a bare name as openai/<name>
          // and skips (with a warning) an entry it cannot serve, such as `azure/`.
          same('yaml', 'model', { type: 'string', minLength: 1, fix: 'Write it as provider/name, e.g. openai/gpt-4o-mini, or set custom_llm_provider' }),
          prop('yaml', 'apiBase', 'api_base', API_BASE),
          prop('yaml', 'apiKey', 'api_key', { type: 'string', minLength: 1, secret: true, fix: 'Set api_key to a string, or os.environ/NAME' }),
          prop('yaml', 'provider', 'custom_llm_provider', PROVIDER),
          prop('yaml', 'apiVersion', 'api_version', API_VERSION),
          rpm(),
          tpm(),
          prop('yaml', 'maxParallelRequests', 'max_parallel_requests', posInt('Set it to a whole number of responses this deployment runs at once, e.g. 8')),
          ...costs(),
        ]),
      },
    ],
    [
      'model_info',
      {
        type: 'object',
        fix: 'Write model_info as a mapping',
        properties: Object.fromEntries([rpm(), tpm(), ...costs(), prop('yaml', 'upstreamApi', 'upstream_api', upstreamApiSchema('upstream_api'))]),
      },
    ],
  ]),
};

/** JSON Schema of the parts of a LiteLLM `config.yaml` that this package reads. */
export const liteLLMSchema: SchemaObject = {
  type: 'object',
  fix: 'The file must hold a mapping with model_list, litellm_settings, general_settings, …',
  properties: {
    model_list: { type: 'array', option: 'models', fix: 'Write a list of entries with model_name and litellm_params', items: deploymentSchema },
    router_settings: {
      type: 'object',
      fix: 'Write router_settings as a mapping',
      // Read by yaml-reader.ts itself: an unknown strategy is a warning, and retries count attempts there.
      properties: {
        routing_strategy: { type: 'string', fix: 'Write simple-shuffle or round-robin' },
        num_retries: { type: 'integer', minimum: 0, maximum: 9, fix: 'Set num_retries to a whole number from 0 to 9, e.g. 2' },
      },
    },
    litellm_settings: {
      type: 'object',
      fix: 'Write litellm_settings as a mapping',
      properties: {
        responses: {
          type: 'object',
          fix: 'Write responses as a mapping with background_mode',
          properties: { background_mode: { ...backgroundModeSchema('yaml'), option: 'backgroundMode' } },
        },
        // LiteLLM's docs turn the response cache on to get a Redis handle for polling; it is the
        // cache_params that matter here.
        cache: { quiet: true },
        // Read by yaml-reader.ts itself (LiteLLM's REDIS_* environment fallbacks).
        cache_params: {
          type: 'object',
          fix: 'Write cache_params as a mapping such as { type: redis, host: localhost, port: 6379 }',
          properties: {
            type: { type: 'string', fix: 'Write type: redis' },
            ...REDIS_FIELDS,
            password: { type: 'string', secret: true, fix: 'Set password to a string, or os.environ/REDIS_PASSWORD' },
            url: REDIS_URL,
            redis_url: REDIS_URL,
            ssl: { type: 'boolean', fix: 'Write ssl: true or ssl: false' },
            // LiteLLM's Redis Cluster form: a list of { host, port }.
            redis_startup_nodes: CLUSTER_NODES,
          },
        },
      },
    },
    general_settings: {
      type: 'object',
      fix: 'Write general_settings as a mapping',
      properties: Object.fromEntries([
        prop('yaml', 'masterKey', 'master_key', {
          type: 'string',
          minLength: 1,
          secret: true,
          fix: 'Set master_key to a string such as os.environ/LITELLM_MASTER_KEY, or remove it',
        }),
        prop('yaml', 'virtualKeys', 'virtual_keys', {
          type: 'array',
          items: virtualKeySchema('yaml'),
          fix: 'Write a list of entries such as { key: os.environ/TEAM_A_KEY, key_alias: team-a, models: [gpt-4o-mini] }',
        }),
      ]),
    },
    responses_polling: {
      type: 'object',
      additionalProperties: false,
      fix: 'Write responses_polling as a mapping of key_prefix, id_prefix, max_body_bytes, max_json_depth, auth, metrics, cluster, worker, stream_followers and key_parallel_limit',
      properties: Object.fromEntries([
        ...Object.entries(tuningProperties('yaml')),
        // Read by yaml-reader.ts itself: a Redis Cluster without LiteLLM's cache_params.
        [
          'cluster',
          {
            type: 'object',
            additionalProperties: false,
            required: ['nodes'],
            fix: 'Write cluster as a mapping: { nodes: [redis://10.0.0.1:6379, …], password: os.environ/REDIS_PASSWORD }',
            properties: {
              nodes: CLUSTER_NODES,
              username: REDIS_FIELDS.username,
              password: { type: 'string', secret: true, fix: 'Set password to a string, or os.environ/REDIS_PASSWORD' },
              ssl: { type: 'boolean', fix: 'Write ssl: true or ssl: false' },
            },
          },
        ],
        same('yaml', 'auth', { const: 'none', fix: "Write auth: none to run without authentication behind the host app's own, or remove it" }),
        same('yaml', 'metrics', {
          type: ['boolean', 'object'],
          additionalProperties: false,
          properties: { prefix: METRICS_PREFIX },
          fix: 'Write metrics: false, metrics: true, or metrics: { prefix: llm_responses_ }',
        }),
      ]),
    },
  },
};

let validator: ValidateFunction | undefined;

/** Result of {@link validateLiteLLMConfig}. */
export interface LiteLLMValidation {
  /** Fatal problems, one line each, with the YAML path and the fix. */
  problems: string[];
  /** Things that work but not as a LiteLLM user may expect, each with its code. */
  warnings: { code: WarningCode; message: string }[];
}

/**
 * Validates the parts of a parsed LiteLLM YAML document this package reads (after loadConfig has
 * normalised it). `where` prefixes every message (the file name).
 */
export function validateLiteLLMConfig(doc: unknown, where: string): LiteLLMValidation {
  validator ??= ajv.compile(liteLLMSchema);
  const problems = validator(doc) ? [] : formatErrors(validator.errors ?? [], doc, 'yaml', where);
  const warnings: LiteLLMValidation['warnings'] = [];
  const cache = (doc as { litellm_settings?: { cache_params?: { type?: unknown } } })?.litellm_settings?.cache_params;
  if (cache && typeof cache === 'object' && cache.type !== 'redis') {
    const what = cache.type === undefined ? 'is not set (LiteLLM then uses its local cache)' : `is ${JSON.stringify(cache.type)}`;
    warnings.push({
      code: WARNING_CODES.yamlCacheType,
      message:
        `${where}: litellm_settings.cache_params.type ${what}; only redis is supported, so the in-memory store is used ` +
        '(one process only). Write type: redis with host and port (or url) to share responses between instances.',
    });
  }
  return { problems, warnings };
}
