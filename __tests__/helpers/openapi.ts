// Validation against OpenAI's published OpenAPI schemas (the fixture scripts/extract-openapi-schemas.js
// writes from openapi.yaml), with ajv in JSON Schema 2020-12 mode.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';

const ROOT_ID = 'https://openai.invalid/openapi.json';
const FIXTURE = join(__dirname, '..', 'fixtures', 'openai-response-schemas.json');

/** The spec's schemas, by name (`components.schemas`). */
export const OPENAPI_SCHEMAS = (JSON.parse(readFileSync(FIXTURE, 'utf8')) as { components: { schemas: Record<string, Record<string, unknown>> } }).components.schemas;

let ajv: Ajv2020 | undefined;
const compiled = new Map<string, ValidateFunction>();

/**
 * The document keeps a few OpenAPI 3.0 `nullable: true` markers, which JSON Schema ignores: each
 * becomes a `null` alternative, as the document means. Nothing else is changed.
 */
function withNullable(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withNullable);
  if (!value || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) out[key] = key === 'nullable' ? v : withNullable(v);
  if (out.nullable === true) {
    const { nullable: _nullable, ...rest } = out;
    return { anyOf: [rest, { type: 'null' }] };
  }
  return out;
}

/**
 * Where the document's own examples contradict its schemas, real answers (OpenAI's too) follow the
 * examples: `user: null` and `usage: null` on a Response (`usage` is null until it ends, and stays
 * null for one that failed before any usage), `output_text` parts without `logprobs`. Only these
 * are relaxed; every other difference fails validation.
 */
function withExampleDeviations(schemas: Record<string, Record<string, unknown>>): Record<string, Record<string, unknown>> {
  const copy = structuredClone(schemas) as Record<string, any>;
  const nullable = (schema: unknown) => ({ anyOf: [schema, { type: 'null' }] });
  copy.ModelResponseProperties.properties.user = nullable(copy.ModelResponseProperties.properties.user);
  const withUsage = (copy.Response.allOf as Array<{ properties?: Record<string, unknown> }>).find((part) => part.properties?.usage);
  withUsage!.properties!.usage = nullable(withUsage!.properties!.usage);
  copy.OutputTextContent.required = (copy.OutputTextContent.required as string[]).filter((name) => name !== 'logprobs');
  return copy;
}

/** A validator for the spec's schema `name` (e.g. `Response`), compiled once. */
export function openapiValidator(name: string): ValidateFunction {
  let validate = compiled.get(name);
  if (validate) return validate;
  if (!ajv) {
    // strict off: the document carries OpenAPI keywords (`discriminator`, `x-oaiMeta`, …) that
    // JSON Schema does not know; formats are not checked (ajv-formats is not a dependency).
    ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
    ajv.addSchema({ $id: ROOT_ID, components: { schemas: withNullable(withExampleDeviations(OPENAPI_SCHEMAS)) } });
  }
  validate = ajv.getSchema(`${ROOT_ID}#/components/schemas/${name}`);
  if (!validate) throw new Error(`the OpenAPI fixture has no schema ${name}`);
  compiled.set(name, validate);
  return validate;
}

/** The errors of `value` against the spec's schema `name`, readable in a failed expectation ([] when valid). */
export function openapiErrors(name: string, value: unknown): string[] {
  const validate = openapiValidator(name);
  if (validate(value)) return [];
  return (validate.errors ?? []).map((e: ErrorObject) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
}
