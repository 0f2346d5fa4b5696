// The JSON Schema (ajv) of the options object `responsesPolling(options)` takes, and its validator.

import type { SchemaObject, ValidateFunction } from 'ajv';
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
  PROVIDER,
  REDIS_FIELDS,
  REDIS_URL,
  RPM_FIX,
  TPM_FIX,
  tuningProperties,
  upstreamApiSchema,
  virtualKeySchema,
} from './schema-parts';

/** JSON Schema of `ResponsesPollingOptions`. */
export const optionsSchema: SchemaObject = {
  type: 'object',
  additionalProperties: false,
  fix: 'Pass an options object, or loadConfig("config.yaml") to read a LiteLLM-style YAML file',
  properties: {
    models: {
      type: 'array',
      fix: 'Write a list of deployments such as [{ modelName: "gpt-4o-mini", model: "openai/gpt-4o-mini" }]',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['modelName', 'model'],
        fix: 'Write a deployment such as { modelName: "gpt-4o-mini", model: "openai/gpt-4o-mini" }',
        properties: {
          modelName: MODEL_NAME,
          model: {
            type: 'string',
            minLength: 1,
            check: 'providerModel',
            fix: 'Write it as provider/name, e.g. "openai/gpt-4o-mini", or set provider',
          },
          apiBase: API_BASE,
          apiKey: { type: 'string', minLength: 1, secret: true, fix: 'Set apiKey to the upstream key as a string, or leave it out' },
          provider: PROVIDER,
          upstreamApi: upstreamApiSchema('upstreamApi'),
          apiVersion: API_VERSION,
          rpm: posInt(RPM_FIX),
          tpm: posInt(TPM_FIX),
          maxParallelRequests: posInt('Set it to a whole number of responses this deployment runs at once, e.g. 8'),
          inputCostPerToken: INPUT_COST,
          outputCostPerToken: OUTPUT_COST,
        },
      },
    },
    backgroundMode: backgroundModeSchema('options'),
    role: { enum: ['all', 'api', 'worker'], fix: 'Write "all" (the default), "api" (routes only) or "worker"' },
    routingStrategy: {
      enum: ['simple-shuffle', 'round-robin'],
      fix: 'Write "simple-shuffle" (a random order per request) or "round-robin"',
    },
    limiter: { type: 'object', check: 'limiter', fix: 'Pass an object that implements the LimiterStore contract (lib/limiter/types.ts)' },
    limiterFailOpen: { type: 'boolean', fix: 'Write true to admit requests while the limiter store is unreachable, or false (the default) to answer 503' },
    preCallHooks: {
      type: 'array',
      items: { check: 'function', fix: 'Each hook is a function (context) => void that throws to refuse' },
      fix: 'Pass a list of functions (context) => void | Promise<void>',
    },
    masterKey: {
      type: 'string',
      minLength: 1,
      secret: true,
      fix: "Set masterKey to the key clients must send, or leave it out and set virtualKeys, authenticate or auth: 'none'",
    },
    virtualKeys: {
      type: 'array',
      items: virtualKeySchema('options'),
      fix: 'Write a list of keys such as [{ key: process.env.TEAM_A_KEY, id: "team-a", models: ["gpt-4o-mini"] }]',
    },
    authenticate: { check: 'function', fix: 'Pass a function (req) => principal | null, or leave authenticate out' },
    auth: {
      const: 'none',
      fix: "Write auth: 'none' to run without authentication behind the host app's own, or leave auth out",
    },
    store: { type: 'object', check: 'store', fix: 'Pass an object that implements the ResponseStore contract (see types.ts)' },
    redis: {
      // One schema for both forms: `check` looks at strings only, `properties` at objects only,
      // so an error inside the object names the field.
      type: ['string', 'object'],
      secret: true,
      check: 'redisUrl',
      additionalProperties: false,
      properties: {
        url: REDIS_URL,
        ...REDIS_FIELDS,
        password: { type: 'string', secret: true, fix: 'Set password to a string' },
        tls: { type: 'boolean', fix: 'Set tls to true or false' },
        cluster: CLUSTER_NODES,
      },
      fix: 'Write a URL such as "redis://localhost:6379" or an object { host, port, username, password, db, tls } or { cluster: [nodes], password }',
    },
    ...tuningProperties('options'),
    logger: { type: 'object', check: 'logger', fix: 'Pass an object with debug, info, warn and error functions' },
    metrics: {
      type: ['boolean', 'object'],
      additionalProperties: false,
      properties: {
        registry: { type: 'object', check: 'registry', fix: "Pass a prom-client Registry (new Registry() or prom-client's register)" },
        prefix: METRICS_PREFIX,
      },
      fix: 'Write true, false, or { registry, prefix }',
    },
    lifecycleHooks: {
      type: 'object',
      additionalProperties: false,
      properties: {
        onResponseFinished: { check: 'function', fix: 'Pass a function (event) => void | Promise<void>' },
      },
      fix: 'Write { onResponseFinished(event) { … } }',
    },
  },
};

let validator: ValidateFunction | undefined;

/** Validates a `ResponsesPollingOptions` object; returns one line per problem (empty when valid). */
export function validateOptions(options: unknown): string[] {
  validator ??= ajv.compile(optionsSchema);
  if (validator(options)) return [];
  return formatErrors(validator.errors ?? [], options, 'options', '');
}
