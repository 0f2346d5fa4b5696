// JSON Schemas (ajv) for the options object and for the parts of a LiteLLM YAML file this package
// reads, and the formatter that turns ajv errors into "<path> <problem>. <fix>." lines.

import Ajv, { type ErrorObject, type SchemaObject, type ValidateFunction } from 'ajv';

/** Which naming the messages use: option paths (`backgroundMode.ttl`) or YAML paths (`litellm_settings…ttl`). */
export type ConfigNaming = 'options' | 'yaml';

// Schema annotations (no effect on validity):
//  - `fix`: the sentence that tells the user what to write instead;
//  - `secret`: never show the value, not even its number;
//  - `keepNull`: in YAML, an empty value (`key:`) is an error here instead of "unset".
// The `check` keyword runs one of the named checks below; each returns the problem or null.

type Check = (data: unknown, parentData: Record<string, unknown> | undefined) => string | null;

/** The methods a custom `store` must have (the ResponseStore contract). */
export const STORE_METHODS: readonly string[] = [
  'create',
  'read',
  'readEvents',
  'append',
  'cancel',
  'delete',
  'rememberNative',
  'lookupNative',
  'forgetNative',
  'claimNativeEnd',
  'subscribe',
  'ping',
  'close',
];
const LOGGER_METHODS = ['debug', 'info', 'warn', 'error'];

function hasMethods(data: unknown, methods: readonly string[]): string[] {
  const obj = data as Record<string, unknown>;
  return methods.filter((m) => typeof obj?.[m] !== 'function');
}

function urlWithProtocol(data: string, protocols: string[]): boolean {
  try {
    return protocols.includes(new URL(data).protocol);
  } catch {
    return false;
  }
}

const CHECKS: Record<string, Check> = {
  // LiteLLM compares the value with "all" and checks for a list; `true` passes neither, so the
  // feature is silently off there. Here it is an error.
  pollingNotTrue: (data) =>
    data === true || (typeof data === 'string' && data.trim().toLowerCase() === 'true')
      ? 'is true, which LiteLLM silently treats as "off" (it accepts only "all" or a list of providers)'
      : null,
  providerModel: (data, parent) => {
    if (typeof data !== 'string' || data === '') return null;
    const explicitProvider = parent?.provider ?? parent?.custom_llm_provider;
    if (typeof explicitProvider === 'string' && explicitProvider !== '') return null;
    const slash = data.indexOf('/');
    if (slash < 0) return `is "${data}", which has no provider prefix`;
    if (slash === 0) return `is "${data}", which has an empty provider before the /`;
    if (slash === data.length - 1) return `is "${data}", which has no model name after the /`;
    return null;
  },
  httpUrl: (data) => (typeof data === 'string' && !urlWithProtocol(data, ['http:', 'https:']) ? 'is not an http(s) URL' : null),
  redisUrl: (data) =>
    typeof data === 'string' && !urlWithProtocol(data, ['redis:', 'rediss:']) ? 'is not a redis:// or rediss:// URL' : null,
  store: (data) => {
    const missing = hasMethods(data, STORE_METHODS);
    return missing.length ? `is missing the store method${missing.length > 1 ? 's' : ''} ${missing.join(', ')}` : null;
  },
  // A virtual key needs exactly one of its plaintext key and its digest (and, in YAML, at most one name).
  oneKeyOptions: (data) => oneKeyProblem(data, 'key', 'keyHash'),
  oneKeyYaml: (data) => {
    const obj = data as Record<string, unknown> | null;
    if (obj && typeof obj === 'object' && obj.key_alias !== undefined && obj.id !== undefined) {
      return 'has both key_alias and id, which name the same thing';
    }
    return oneKeyProblem(data, 'key', 'key_hash');
  },
  limiter: (data) => {
    const missing = hasMethods(data, ['admit', 'rollback', 'release', 'renew', 'record', 'close']);
    return missing.length ? `is missing the limiter method${missing.length > 1 ? 's' : ''} ${missing.join(', ')}` : null;
  },
  function: (data) => (typeof data === 'function' ? null : `is ${describeValue(data, false)}, not a function`),
  registry: (data) => {
    const missing = hasMethods(data, ['registerMetric', 'getSingleMetric', 'metrics']);
    return missing.length ? `is not a prom-client Registry (missing ${missing.join(', ')})` : null;
  },
  logger: (data) => {
    const missing = hasMethods(data, LOGGER_METHODS);
    return missing.length ? `is missing the method${missing.length > 1 ? 's' : ''} ${missing.join(', ')}` : null;
  },
};

function oneKeyProblem(data: unknown, key: string, hash: string): string | null {
  if (!data || typeof data !== 'object' || Array.isArray(data)) return null;
  const obj = data as Record<string, unknown>;
  if (obj[key] !== undefined && obj[hash] !== undefined) return `has both ${key} and ${hash}`;
  if (obj[key] === undefined && obj[hash] === undefined) return `has neither ${key} nor ${hash}`;
  return null;
}

function runCheck(
  name: string,
  data: unknown,
  parentSchema?: SchemaObject,
  cxt?: { parentData?: unknown },
): boolean {
  const problem = CHECKS[name](data, cxt?.parentData as Record<string, unknown> | undefined);
  if (problem === null) return true;
  (runCheck as unknown as ValidateFunction).errors = [
    // ajv fills in instancePath and schemaPath.
    { keyword: 'check', message: problem, params: { check: name, fix: parentSchema?.fix } } as unknown as ErrorObject,
  ];
  return false;
}

const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true });
ajv.addKeyword({ keyword: 'fix', schemaType: 'string' });
ajv.addKeyword({ keyword: 'secret', schemaType: 'boolean' });
ajv.addKeyword({ keyword: 'keepNull', schemaType: 'boolean' });
ajv.addKeyword({ keyword: 'check', schemaType: 'string', errors: true, validate: runCheck });

// ---------------------------------------------------------------------------------------------
// Building blocks shared by both schemas; `n` picks the option or the YAML spelling of a name.

const posInt = (fix: string): SchemaObject => ({ type: 'integer', minimum: 1, fix });
const ms = (minimum: number, hint: string): SchemaObject => ({ type: 'integer', minimum, fix: `Set it to a whole number of milliseconds ${hint}` });

function pollingViaCacheSchema(n: ConfigNaming): SchemaObject {
  const key = n === 'yaml' ? 'polling_via_cache: "all"' : "pollingViaCache: 'all'";
  return {
    check: 'pollingNotTrue',
    keepNull: true,
    anyOf: [{ const: 'all' }, { type: 'array', items: { type: 'string', minLength: 1 } }, { const: false }],
    fix: `Write ${key} to poll every model, or a list of providers such as ["openai", "azure"]; false turns polling off`,
  };
}

function backgroundModeSchema(n: ConfigNaming): SchemaObject {
  const y = n === 'yaml';
  return {
    type: 'object',
    additionalProperties: y,
    properties: {
      [y ? 'polling_via_cache' : 'pollingViaCache']: pollingViaCacheSchema(n),
      [y ? 'native_background_mode' : 'nativeBackgroundMode']: {
        type: 'array',
        items: { type: 'string', minLength: 1, fix: 'Each entry is a model name exactly as clients send it' },
        fix: 'Write a list of model names, e.g. ["o3-deep-research"]',
      },
      ttl: posInt('Set ttl to the retention in whole seconds, e.g. 3600'),
    },
    fix: 'Write an object with pollingViaCache, nativeBackgroundMode and ttl',
  };
}

function workerSchema(n: ConfigNaming): SchemaObject {
  const k = (camel: string, snake: string) => (n === 'yaml' ? snake : camel);
  return {
    type: 'object',
    additionalProperties: false,
    properties: {
      [k('flushIntervalMs', 'flush_interval_ms')]: { ...ms(0, 'from 0 to 1000, e.g. 50'), maximum: 1000 },
      [k('flushMaxEvents', 'flush_max_events')]: posInt('Set it to a whole number of events, e.g. 256'),
      [k('flushMaxBytes', 'flush_max_bytes')]: posInt('Set it to a whole number of bytes, e.g. 65536'),
      [k('leaseMs', 'lease_ms')]: ms(1000, 'of at least 1000, e.g. 60000'),
      [k('upstreamConnectTimeoutMs', 'upstream_connect_timeout_ms')]: ms(1, 'e.g. 30000'),
      [k('upstreamIdleTimeoutMs', 'upstream_idle_timeout_ms')]: ms(1, 'e.g. 120000'),
      [k('storeRetryGraceMs', 'store_retry_grace_ms')]: ms(0, 'e.g. 30000'),
      [k('shutdownGraceMs', 'shutdown_grace_ms')]: ms(0, 'e.g. 10000'),
      [k('upstreamMaxAttempts', 'upstream_max_attempts')]: { ...posInt('Set it to a whole number of attempts from 1 to 10, e.g. 3 (1: no retry)'), maximum: 10 },
      [k('upstreamRetryBaseMs', 'upstream_retry_base_ms')]: { ...ms(0, 'from 0 to 10000, e.g. 250'), maximum: 10000 },
    },
    fix: 'Write an object of worker settings',
  };
}

function tuningProperties(n: ConfigNaming): Record<string, SchemaObject> {
  const k = (camel: string, snake: string) => (n === 'yaml' ? snake : camel);
  return {
    [k('keyPrefix', 'key_prefix')]: {
      type: 'string',
      maxLength: 64,
      pattern: '^[^{}\\s]*$',
      fix: 'Use a short prefix without spaces or braces (braces would break the Redis Cluster hash tag), e.g. "rp:"',
    },
    [k('idPrefix', 'id_prefix')]: {
      type: 'string',
      minLength: 1,
      maxLength: 32,
      pattern: '^[A-Za-z0-9_-]+$',
      fix: 'Use 1 to 32 letters, digits, _ or -, e.g. "resp_"',
    },
    [k('maxBodyBytes', 'max_body_bytes')]: posInt('Set it to a whole number of bytes, e.g. 1048576'),
    worker: workerSchema(n),
  };
}

const UPSTREAM_API = (name: string): SchemaObject => ({
  enum: ['responses', 'chat_completions'],
  fix: `Write ${name}: chat_completions for a server that offers only /chat/completions, or responses`,
});

const API_VERSION: SchemaObject = {
  type: 'string',
  minLength: 1,
  pattern: '^[A-Za-z0-9._-]+$',
  fix: 'Set it to an Azure OpenAI api-version such as "2025-04-01-preview", or leave it out to use the v1 API',
};

/** One entry of `virtualKeys` (options) or `general_settings.virtual_keys` (YAML). */
function virtualKeySchema(n: ConfigNaming): SchemaObject {
  const y = n === 'yaml';
  const k = (camel: string, snake: string) => (y ? snake : camel);
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
    properties: {
      key: {
        type: 'string',
        minLength: 1,
        secret: true,
        fix: y ? 'Set key to the key clients send, or os.environ/NAME' : 'Set key to the key clients send, as a string',
      },
      [k('keyHash', 'key_hash')]: {
        type: 'string',
        pattern: '^[0-9a-fA-F]{64}$',
        secret: true,
        fix: 'Write the SHA-256 digest of the key as 64 hex digits (e.g. the output of: printf %s "$KEY" | sha256sum)',
      },
      id: name,
      ...(y ? { key_alias: name } : {}),
      [k('rpmLimit', 'rpm_limit')]: posInt(RPM_FIX),
      [k('tpmLimit', 'tpm_limit')]: posInt(TPM_FIX),
      [k('maxParallelRequests', 'max_parallel_requests')]: posInt('Set it to a whole number of running background responses, e.g. 5'),
      [k('maxBudget', 'max_budget')]: { type: 'number', minimum: 0, fix: 'Set it to the spend limit as a number, e.g. 10.5' },
      models: {
        type: 'array',
        minItems: 1,
        items: MODEL_NAME,
        fix: 'List the model names this key may use, e.g. ["gpt-4o-mini"]; leave models out to allow every model',
      },
    },
  };
}

const MODEL_NAME: SchemaObject = {
  type: 'string',
  minLength: 1,
  pattern: '^[^*]*\\*?$',
  fix: 'Set it to the name clients send, e.g. "gpt-4o-mini"; a * is allowed only at the end, as a wildcard',
};
const RPM_FIX = 'Set it to a whole number of requests per minute, e.g. 500';
const TPM_FIX = 'Set it to a whole number of tokens per minute, e.g. 100000';
const API_BASE_FIX = 'Write the base URL up to and including /v1, e.g. "https://api.openai.com/v1"';

// ---------------------------------------------------------------------------------------------
// (a) The options object.

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
          apiBase: { type: 'string', check: 'httpUrl', fix: API_BASE_FIX },
          apiKey: { type: 'string', minLength: 1, secret: true, fix: 'Set apiKey to the upstream key as a string, or leave it out' },
          provider: { type: 'string', minLength: 1, pattern: '^[^/\\s]+$', fix: 'Set it to a provider name such as "openai"' },
          upstreamApi: UPSTREAM_API('upstreamApi'),
          apiVersion: API_VERSION,
          rpm: posInt(RPM_FIX),
          tpm: posInt(TPM_FIX),
          inputCostPerToken: { type: 'number', minimum: 0, fix: 'Set it to the price of one input token, e.g. 0.00000015' },
          outputCostPerToken: { type: 'number', minimum: 0, fix: 'Set it to the price of one output token, e.g. 0.0000006' },
        },
      },
    },
    backgroundMode: backgroundModeSchema('options'),
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
      fix: 'Set masterKey to the key clients must send, or leave it out to keep the routes open behind your own auth',
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
        url: { type: 'string', check: 'redisUrl', secret: true, fix: 'Write a URL such as "redis://localhost:6379"' },
        host: { type: 'string', minLength: 1, fix: 'Set host to the Redis host name' },
        port: { type: 'integer', minimum: 1, maximum: 65535, fix: 'Set port to a number from 1 to 65535, e.g. 6379' },
        username: { type: 'string', fix: 'Set username to a string' },
        password: { type: 'string', secret: true, fix: 'Set password to a string' },
        db: { type: 'integer', minimum: 0, fix: 'Set db to a database number, e.g. 0' },
        tls: { type: 'boolean', fix: 'Set tls to true or false' },
      },
      fix: 'Write a URL such as "redis://localhost:6379" or an object { host, port, username, password, db, tls }',
    },
    ...tuningProperties('options'),
    logger: { type: 'object', check: 'logger', fix: 'Pass an object with debug, info, warn and error functions' },
    metrics: {
      type: ['boolean', 'object'],
      additionalProperties: false,
      properties: {
        registry: { type: 'object', check: 'registry', fix: "Pass a prom-client Registry (new Registry() or prom-client's register)" },
        prefix: { type: 'string', pattern: '^[a-zA-Z_:][a-zA-Z0-9_:]*$', fix: 'Write a Prometheus name prefix such as "llm_responses_" (letters, digits, _ and :)' },
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

// ---------------------------------------------------------------------------------------------
// (b) The LiteLLM YAML layout: only the parts this package reads. Other LiteLLM keys are allowed
// here and reported as ignored by loadConfig; the package's own `responses_polling` section is
// strict, since a typo there would otherwise go unnoticed.

/** JSON Schema of the parts of a LiteLLM `config.yaml` that this package reads. */
export const liteLLMSchema: SchemaObject = {
  type: 'object',
  fix: 'The file must hold a mapping with model_list, litellm_settings, general_settings, …',
  properties: {
    model_list: {
      type: 'array',
      fix: 'Write a list of entries with model_name and litellm_params',
      items: {
        type: 'object',
        required: ['model_name', 'litellm_params'],
        fix: 'Write an entry with model_name and litellm_params: { model: provider/name }',
        properties: {
          model_name: MODEL_NAME,
          rpm: posInt(RPM_FIX),
          tpm: posInt(TPM_FIX),
          litellm_params: {
            type: 'object',
            required: ['model'],
            fix: 'Write litellm_params with at least model: provider/name, e.g. model: openai/gpt-4o-mini',
            properties: {
              // No providerModel check here: like LiteLLM, loadConfig reads a bare name as openai/<name>
              // and skips (with a warning) an entry it cannot serve, such as `azure/`.
              model: {
                type: 'string',
                minLength: 1,
                fix: 'Write it as provider/name, e.g. openai/gpt-4o-mini, or set custom_llm_provider',
              },
              api_base: { type: 'string', check: 'httpUrl', fix: API_BASE_FIX },
              api_key: { type: 'string', minLength: 1, secret: true, fix: 'Set api_key to a string, or os.environ/NAME' },
              custom_llm_provider: { type: 'string', minLength: 1, pattern: '^[^/\\s]+$', fix: 'Set it to a provider name such as openai' },
              api_version: API_VERSION,
              rpm: posInt(RPM_FIX),
              tpm: posInt(TPM_FIX),
            },
          },
          model_info: {
            type: 'object',
            fix: 'Write model_info as a mapping',
            properties: { rpm: posInt(RPM_FIX), tpm: posInt(TPM_FIX), upstream_api: UPSTREAM_API('upstream_api') },
          },
        },
      },
    },
    router_settings: {
      type: 'object',
      fix: 'Write router_settings as a mapping',
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
          properties: { background_mode: backgroundModeSchema('yaml') },
        },
        cache_params: {
          type: 'object',
          fix: 'Write cache_params as a mapping such as { type: redis, host: localhost, port: 6379 }',
          properties: {
            type: { type: 'string', fix: 'Write type: redis' },
            host: { type: 'string', minLength: 1, fix: 'Set host to the Redis host name' },
            port: { type: 'integer', minimum: 1, maximum: 65535, fix: 'Set port to a number from 1 to 65535, e.g. 6379' },
            username: { type: 'string', fix: 'Set username to a string' },
            password: { type: 'string', secret: true, fix: 'Set password to a string, or os.environ/REDIS_PASSWORD' },
            url: { type: 'string', check: 'redisUrl', secret: true, fix: 'Write a URL such as redis://localhost:6379' },
            redis_url: { type: 'string', check: 'redisUrl', secret: true, fix: 'Write a URL such as redis://localhost:6379' },
            db: { type: 'integer', minimum: 0, fix: 'Set db to a database number, e.g. 0' },
            ssl: { type: 'boolean', fix: 'Write ssl: true or ssl: false' },
          },
        },
      },
    },
    general_settings: {
      type: 'object',
      fix: 'Write general_settings as a mapping',
      properties: {
        master_key: {
          type: 'string',
          minLength: 1,
          secret: true,
          fix: 'Set master_key to a string such as os.environ/LITELLM_MASTER_KEY, or remove it',
        },
        virtual_keys: {
          type: 'array',
          items: virtualKeySchema('yaml'),
          fix: 'Write a list of entries such as { key: os.environ/TEAM_A_KEY, key_alias: team-a, models: [gpt-4o-mini] }',
        },
      },
    },
    responses_polling: {
      type: 'object',
      additionalProperties: false,
      fix: 'Write responses_polling as a mapping of key_prefix, id_prefix, max_body_bytes, auth, metrics and worker',
      properties: {
        ...tuningProperties('yaml'),
        auth: { const: 'none', fix: "Write auth: none to run without authentication behind the host app's own, or remove it" },
        metrics: {
          type: ['boolean', 'object'],
          additionalProperties: false,
          properties: {
            prefix: { type: 'string', pattern: '^[a-zA-Z_:][a-zA-Z0-9_:]*$', fix: 'Write a Prometheus name prefix such as llm_responses_ (letters, digits, _ and :)' },
          },
          fix: 'Write metrics: false, metrics: true, or metrics: { prefix: llm_responses_ }',
        },
      },
    },
  },
};

// ---------------------------------------------------------------------------------------------
// Error formatting.

function renderPath(segments: string[], root: unknown, naming: ConfigNaming): string {
  let out = '';
  for (const seg of segments) {
    if (/^\d+$/.test(seg)) out += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  // Name the deployment too: "model_list[7]" alone makes the user count entries.
  const listKey = naming === 'yaml' ? 'model_list' : 'models';
  const nameKey = naming === 'yaml' ? 'model_name' : 'modelName';
  if (segments[0] === listKey && segments.length > 1 && /^\d+$/.test(segments[1])) {
    const entry = ((root as Record<string, unknown>)?.[listKey] as unknown[] | undefined)?.[Number(segments[1])];
    const name = (entry as Record<string, unknown> | undefined)?.[nameKey];
    if (typeof name === 'string' && name !== '') out += ` (${nameKey} "${name}")`;
  }
  return out;
}

function decodePointer(pointer: string): string[] {
  return pointer === '' ? [] : pointer.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

const TYPE_WORDS: Record<string, string> = {
  ...{ integer: 'a whole number', number: 'a number', string: 'a string', boolean: 'true or false' },
  ...{ object: 'a mapping', array: 'a list', null: 'empty' },
};

function describeValue(data: unknown, secret: boolean): string {
  if (data === null) return 'nothing (an empty value)';
  if (Array.isArray(data)) return 'a list';
  if (typeof data === 'function') return 'a function';
  if (typeof data === 'object') return 'a mapping';
  if (typeof data === 'string') return data === '' ? 'an empty string' : 'a string';
  // Numbers and booleans are shown, unless the field holds a secret.
  if (secret) return typeof data === 'number' ? 'a number' : 'a boolean';
  return String(data);
}

/** Edit distance, for "did you mean" hints on unknown keys. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length];
}

function suggest(key: string, known: string[]): string | undefined {
  const squash = (s: string) => s.toLowerCase().replace(/[_-]/g, '');
  return known.find((k) => squash(k) === squash(key)) ?? known.find((k) => distance(k.toLowerCase(), key.toLowerCase()) <= 2);
}

interface Problem {
  segments: string[];
  problem: string;
  fix?: string;
  rank: number;
}

function toProblem(err: ErrorObject): Problem {
  const segments = decodePointer(err.instancePath);
  const parent = (err.parentSchema ?? {}) as SchemaObject;
  const secret = parent.secret === true;
  const got = `got ${describeValue(err.data, secret)}`;
  switch (err.keyword) {
    case 'check':
      return { segments, problem: err.message ?? 'is invalid', fix: (err.params as { fix?: string }).fix, rank: 0 };
    case 'required': {
      const missing = (err.params as { missingProperty: string }).missingProperty;
      return { segments: [...segments, missing], problem: 'is required', fix: parent.properties?.[missing]?.fix, rank: 1 };
    }
    case 'additionalProperties': {
      const key = (err.params as { additionalProperty: string }).additionalProperty;
      const known = Object.keys(parent.properties ?? {});
      const hint = suggest(key, known);
      const fix = hint ? `Did you mean ${hint}?` : `Remove it; the known keys here are ${known.join(', ')}`;
      return { segments: [...segments, key], problem: 'is not a known setting', fix, rank: 1 };
    }
    case 'type': {
      const types = String((err.params as { type: string }).type).split(',');
      const want = types.map((t) => TYPE_WORDS[t] ?? t).join(' or ');
      return { segments, problem: `must be ${want} (${got})`, fix: parent.fix, rank: 1 };
    }
    case 'minimum':
    case 'maximum': {
      const { limit, comparison } = err.params as { limit: number; comparison: string };
      const word = comparison === '>=' ? 'at least' : 'at most';
      return { segments, problem: `must be ${word} ${limit} (${got})`, fix: parent.fix, rank: 2 };
    }
    case 'minLength':
      return { segments, problem: 'must not be empty', fix: parent.fix, rank: 2 };
    case 'minItems':
      return { segments, problem: 'must not be an empty list', fix: parent.fix, rank: 2 };
    case 'maxLength':
      return { segments, problem: `is longer than ${(err.params as { limit: number }).limit} characters`, fix: parent.fix, rank: 2 };
    case 'pattern':
      return { segments, problem: 'has characters that are not allowed here', fix: parent.fix, rank: 2 };
    default:
      return { segments, problem: `has an unsupported value (${got})`, fix: parent.fix, rank: 3 };
  }
}

function formatErrors(errors: ErrorObject[], root: unknown, naming: ConfigNaming, where: string): string[] {
  // Errors inside the branches of an anyOf only say which branch failed; the anyOf error itself
  // (with the property's fix) says it better.
  const relevant = errors.filter((e) => !/\/(anyOf|oneOf)\/\d+\//.test(e.schemaPath));
  const best = new Map<string, Problem>();
  for (const err of relevant) {
    const p = toProblem(err);
    const key = p.segments.join('\u0000');
    const prev = best.get(key);
    if (!prev || p.rank < prev.rank) best.set(key, p);
  }
  return [...best.values()].map((p) => {
    const path = renderPath(p.segments, root, naming);
    const at = path === '' ? where : where ? `${where}: ${path}` : path;
    const fix = p.fix ? ` ${p.fix.replace(/[.?]$/, '')}${p.fix.endsWith('?') ? '?' : '.'}` : '';
    return `${at || 'options'} ${p.problem}.${fix}`;
  });
}

let optionsValidator: ValidateFunction | undefined;
let liteLLMValidator: ValidateFunction | undefined;

/** Validates a `ResponsesPollingOptions` object; returns one line per problem (empty when valid). */
export function validateOptions(options: unknown): string[] {
  optionsValidator ??= ajv.compile(optionsSchema);
  if (optionsValidator(options)) return [];
  return formatErrors(optionsValidator.errors ?? [], options, 'options', '');
}

/** Result of {@link validateLiteLLMConfig}. */
export interface LiteLLMValidation {
  /** Fatal problems, one line each, with the YAML path and the fix. */
  problems: string[];
  /** Things that work but not as a LiteLLM user may expect. */
  warnings: string[];
}

/**
 * Validates the parts of a parsed LiteLLM YAML document this package reads (after loadConfig has
 * normalised it). `where` prefixes every message (the file name).
 */
export function validateLiteLLMConfig(doc: unknown, where: string): LiteLLMValidation {
  liteLLMValidator ??= ajv.compile(liteLLMSchema);
  const problems = liteLLMValidator(doc) ? [] : formatErrors(liteLLMValidator.errors ?? [], doc, 'yaml', where);
  const warnings: string[] = [];
  const cache = (doc as { litellm_settings?: { cache_params?: { type?: unknown } } })?.litellm_settings?.cache_params;
  if (cache && typeof cache === 'object' && cache.type !== 'redis') {
    const what = cache.type === undefined ? 'is not set (LiteLLM then uses its local cache)' : `is ${JSON.stringify(cache.type)}`;
    warnings.push(
      `${where}: litellm_settings.cache_params.type ${what}; only redis is supported, so the in-memory store is used ` +
        '(one process only). Write type: redis with host and port (or url) to share responses between instances.',
    );
  }
  return { problems, warnings };
}
