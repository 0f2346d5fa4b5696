// Validation of a `POST /responses` body and the Response object a background request starts as.

import Ajv, { type ErrorObject } from 'ajv';
import { invalidRequest, type ApiError } from '../errors';
import type { ResponseObject } from '../types';

/** The body of `POST /responses`, as far as this package reads it; other fields pass through. */
export interface CreateResponseBody {
  model: string;
  background?: boolean;
  stream?: boolean;
  store?: boolean;
  metadata?: Record<string, string> | null;
  [field: string]: unknown;
}

const nullable = (schema: object) => ({ anyOf: [schema, { type: 'null' }] });

const createSchema = {
  type: 'object',
  required: ['model'],
  properties: {
    model: { type: 'string', minLength: 1, maxLength: 256 },
    input: { anyOf: [{ type: 'string' }, { type: 'array' }] },
    instructions: nullable({ anyOf: [{ type: 'string' }, { type: 'array' }] }),
    background: nullable({ type: 'boolean' }),
    stream: nullable({ type: 'boolean' }),
    store: nullable({ type: 'boolean' }),
    parallel_tool_calls: nullable({ type: 'boolean' }),
    temperature: nullable({ type: 'number', minimum: 0, maximum: 2 }),
    top_p: nullable({ type: 'number', minimum: 0, maximum: 1 }),
    max_output_tokens: nullable({ type: 'integer', minimum: 1 }),
    max_tool_calls: nullable({ type: 'integer', minimum: 1 }),
    top_logprobs: nullable({ type: 'integer', minimum: 0, maximum: 20 }),
    previous_response_id: nullable({ type: 'string' }),
    tools: { type: 'array' },
    tool_choice: { anyOf: [{ type: 'string' }, { type: 'object' }] },
    text: { type: 'object' },
    reasoning: nullable({ type: 'object' }),
    truncation: nullable({ enum: ['auto', 'disabled'] }),
    user: { type: 'string' },
    metadata: nullable({
      type: 'object',
      maxProperties: 16,
      propertyNames: { maxLength: 64 },
      additionalProperties: { type: 'string', maxLength: 512 },
    }),
  },
  additionalProperties: true,
} as const;

const ajv = new Ajv({ allErrors: false, strict: false });
const validateCreate = ajv.compile(createSchema);

function describe(error: ErrorObject): { param: string; message: string } {
  const path = error.instancePath.replace(/^\//, '').split('/').filter(Boolean);
  if (error.keyword === 'required') {
    const missing = (error.params as { missingProperty: string }).missingProperty;
    return { param: missing, message: `Missing required parameter: '${missing}'.` };
  }
  // For `anyOf` of a type and null, the first branch's message is the useful one.
  const param = path.join('.') || 'body';
  if (error.keyword === 'type' || error.keyword === 'anyOf') return { param, message: `Invalid type for '${param}'.` };
  if (error.keyword === 'maxProperties') return { param, message: `Invalid '${param}': at most 16 key-value pairs are allowed.` };
  if (error.keyword === 'propertyNames') return { param, message: `Invalid '${param}': keys may have at most 64 characters.` };
  return { param, message: `Invalid value for '${param}': ${error.message ?? 'not allowed'}.` };
}

/**
 * The field holding the first object or array nested deeper than `maxDepth` (the body is level 1),
 * as a param (`input[0].content`: array indices after the last key are left out); undefined when
 * none is. Walks with an explicit stack, so no depth can overflow the call stack.
 */
export function tooDeep(body: object, maxDepth: number): string | undefined {
  interface Node {
    value: object;
    depth: number;
    parent: Node | undefined;
    /** The key or index this node has in its parent. */
    key: string | number | undefined;
  }
  const stack: Node[] = [{ value: body, depth: 1, parent: undefined, key: undefined }];
  for (let node = stack.pop(); node; node = stack.pop()) {
    if (node.depth > maxDepth) return paramOf(node);
    const entries: Array<[string | number, unknown]> = Array.isArray(node.value) ? node.value.map((v, i) => [i, v]) : Object.entries(node.value);
    for (const [key, value] of entries) {
      if (value !== null && typeof value === 'object') stack.push({ value, depth: node.depth + 1, parent: node, key });
    }
  }
  return undefined;

  function paramOf(node: Node): string {
    const keys: Array<string | number> = [];
    for (let at: Node | undefined = node; at?.key !== undefined; at = at.parent) keys.unshift(at.key);
    const lastName = keys.map((k) => typeof k === 'string').lastIndexOf(true);
    return keys
      .slice(0, lastName + 1)
      .map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? k : `.${k}`))
      .join('');
  }
}

/**
 * Checks a create body; returns an ApiError naming the bad field, or the typed body. Objects and
 * arrays nested deeper than `maxJsonDepth` are refused first (later steps serialise the body).
 */
export function checkCreateBody(body: unknown, limits: { maxJsonDepth: number } = { maxJsonDepth: Infinity }): CreateResponseBody | ApiError {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    return invalidRequest('The request body must be a JSON object.', null, 'invalid_body');
  }
  const deep = tooDeep(body, limits.maxJsonDepth);
  if (deep !== undefined) {
    return invalidRequest(`Invalid '${deep}': objects and arrays may be nested at most ${limits.maxJsonDepth} levels deep.`, deep, 'nesting_too_deep');
  }
  if (!validateCreate(body)) {
    const first = validateCreate.errors?.[0];
    const { param, message } = first ? describe(first) : { param: 'body', message: 'Invalid request body.' };
    return invalidRequest(message, param, 'invalid_value');
  }
  const typed = body as CreateResponseBody;
  if (typed.background === true && typed.input === undefined && typed.previous_response_id === undefined && typed.prompt === undefined) {
    return invalidRequest("Missing required parameter: 'input'.", 'input', 'missing_required_parameter');
  }
  if (typed.background === true && typed.store === false) {
    return invalidRequest('Background responses require store=true: they are kept so they can be polled.', 'store', 'invalid_value');
  }
  return typed;
}

/** The Response object a background request starts as (`queued`), built from the request. */
export function initialResponse(id: string, body: CreateResponseBody, createdAt: number): ResponseObject {
  const pick = <T>(name: string, fallback: T): unknown => (body[name] === undefined ? fallback : body[name]);
  const response: ResponseObject = {
    id,
    object: 'response',
    created_at: createdAt,
    status: 'queued',
    background: true,
    completed_at: null,
    error: null,
    incomplete_details: null,
    instructions: pick('instructions', null),
    max_output_tokens: pick('max_output_tokens', null),
    max_tool_calls: pick('max_tool_calls', null),
    model: body.model,
    output: [],
    parallel_tool_calls: pick('parallel_tool_calls', true),
    previous_response_id: pick('previous_response_id', null),
    reasoning: pick('reasoning', { effort: null, summary: null }),
    service_tier: pick('service_tier', 'auto'),
    store: pick('store', true),
    temperature: pick('temperature', 1),
    text: pick('text', { format: { type: 'text' } }),
    tool_choice: pick('tool_choice', 'auto'),
    tools: pick('tools', []),
    top_logprobs: pick('top_logprobs', 0),
    top_p: pick('top_p', 1),
    truncation: pick('truncation', 'disabled'),
    usage: null,
    user: pick('user', null),
    metadata: (body.metadata ?? {}) as Record<string, string>,
  };
  for (const extra of ['prompt', 'prompt_cache_key', 'safety_identifier', 'conversation']) {
    if (body[extra] !== undefined) response[extra] = body[extra];
  }
  return response;
}
