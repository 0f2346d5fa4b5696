// Scrubbing what an upstream sends of secrets before it is stored, logged or sent: credential-like
// text in every string of an error (unknown error fields dropped), and the deployment's key anywhere.

import type { DeploymentConfig } from '../config/options';
import { isRecord, type JsonObject } from '../json';

/** What replaces a secret. */
const REDACTED = '[redacted]';
/** Longest string kept from an upstream error field. */
const MAX_ERROR_TEXT = 500;
/** Keys shorter than this are not searched for in error text (they would match ordinary text). */
const MIN_KEY_LENGTH = 4;
/**
 * Keys shorter than this are not searched for in success bodies: those are placeholders such as
 * `EMPTY` or `ollama` that servers without auth are given, and removing them from a model's
 * output would change it. Real provider keys are far longer.
 */
const MIN_BODY_KEY_LENGTH = 16;

/** Removes anything that looks like a credential from text that came from an upstream. */
export function redactSecrets(text: string, deployment?: Pick<DeploymentConfig, 'apiKey'>): string {
  let out = removeKey(text, deployment?.apiKey);
  // Provider keys quoted back in error messages (OpenAI echoes a masked key on 401).
  out = out.replace(/\b(sk|rk|pk)-[A-Za-z0-9_*\-]{6,}/g, REDACTED);
  out = out.replace(/Bearer\s+[A-Za-z0-9._~+/=*\-]+/gi, 'Bearer [redacted]');
  return out.length > MAX_ERROR_TEXT ? `${out.slice(0, MAX_ERROR_TEXT)}…` : out;
}

/** The fields an upstream error may carry (the OpenAI error object); any other is dropped. */
export interface ScrubbedError {
  message: string;
  code?: string | null;
  param?: string | null;
  type?: string;
}

/**
 * An upstream error object with every string scrubbed by {@link redactSecrets} and only the
 * fields of an OpenAI error kept; `fallback` when it has no message.
 */
export function scrubErrorFields(source: JsonObject, deployment: Pick<DeploymentConfig, 'apiKey'> | undefined, fallback: string): ScrubbedError {
  const text = (value: unknown): string | undefined => (typeof value === 'string' ? redactSecrets(value, deployment) : undefined);
  const out: ScrubbedError = { message: text(source.message) || fallback };
  const code = text(source.code);
  if (code !== undefined) out.code = code;
  else if (source.code === null) out.code = null;
  const param = text(source.param);
  if (param !== undefined) out.param = param;
  else if (source.param === null) out.param = null;
  const type = text(source.type);
  if (type !== undefined) out.type = type;
  return out;
}

/**
 * `value` with the deployment's key removed from every string in it (object keys included).
 * Returns `value` itself when the key is nowhere in it, so the common case copies nothing. A
 * key under 16 characters is taken for a placeholder and left alone.
 */
export function scrubKey<T>(value: T, key: string | undefined): T {
  if (!key || key.length < MIN_BODY_KEY_LENGTH) return value;
  return scrubValue(value, key) as T;
}

/** Characters JSON may write escaped other than as `\u....`: `"`, `\`, `/` and the control characters. */
const ESCAPABLE_KEY_CHAR = /["\\/\u0000-\u001f]/;

/**
 * For the deployment's `key`, a test of whether `JSON.parse(json)` may hold it (in a string or an
 * object key), told from the JSON text alone: false only when it surely does not, so
 * {@link scrubKey} of that value can be skipped. JSON writes a key's characters either as they
 * are or as escapes; when the text has no `\u` escape and the key no character of the other
 * escapes, every occurrence of the key in a parsed string is one in the text.
 */
export function keyInJson(key: string | undefined): (json: string) => boolean {
  if (!key || key.length < MIN_BODY_KEY_LENGTH) return () => false;
  if (ESCAPABLE_KEY_CHAR.test(key)) return () => true;
  return (json) => json.includes(key) || json.includes('\\u');
}

function scrubValue(value: unknown, key: string): unknown {
  if (typeof value === 'string') return value.includes(key) ? removeKey(value, key) : value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const next = scrubValue(value[i], key);
      if (next !== value[i]) (copy ??= value.slice())[i] = next;
    }
    return copy ?? value;
  }
  if (isRecord(value)) {
    let copy: JsonObject | undefined;
    for (const name of Object.keys(value)) {
      const next = scrubValue(value[name], key);
      const cleanName = name.includes(key) ? removeKey(name, key) : name;
      if (next === value[name] && cleanName === name) continue;
      copy ??= { ...value };
      if (cleanName !== name) delete copy[name];
      copy[cleanName] = next;
    }
    return copy ?? value;
  }
  return value;
}

function removeKey(text: string, key: string | undefined): string {
  return key && key.length >= MIN_KEY_LENGTH && text.includes(key) ? text.split(key).join(REDACTED) : text;
}

/**
 * Removes the deployment's key (16 characters or more) from a relayed body, chunk by chunk: a key
 * split across chunks is found too. Only a chunk's tail that could begin the key is held back, so an SSE event that ends
 * a chunk is never delayed.
 */
export class KeyScrubber {
  private readonly key: Buffer | undefined;
  private readonly replacement = Buffer.from(REDACTED);
  private carry: Buffer = Buffer.alloc(0);

  constructor(key: string | undefined) {
    this.key = key && key.length >= MIN_BODY_KEY_LENGTH ? Buffer.from(key) : undefined;
  }

  /** The bytes of `chunk` (after what was held back) that can be sent now. */
  push(chunk: Uint8Array): Uint8Array {
    const key = this.key;
    if (!key) return chunk;
    const input = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let buf = this.carry.length ? Buffer.concat([this.carry, input]) : input;
    if (buf.includes(key)) buf = this.replaceAll(buf, key);
    const keep = heldBack(buf, key);
    // A copy: the held bytes outlive the chunk they came in.
    this.carry = keep ? Buffer.from(buf.subarray(buf.length - keep)) : Buffer.alloc(0);
    return keep ? buf.subarray(0, buf.length - keep) : buf;
  }

  /** What is still held back, at the end of the body. */
  end(): Uint8Array {
    const rest = this.carry;
    this.carry = Buffer.alloc(0);
    return rest;
  }

  private replaceAll(buf: Buffer, key: Buffer): Buffer {
    const parts: Buffer[] = [];
    let from = 0;
    for (let at = buf.indexOf(key); at >= 0; at = buf.indexOf(key, from)) {
      parts.push(buf.subarray(from, at), this.replacement);
      from = at + key.length;
    }
    parts.push(buf.subarray(from));
    return Buffer.concat(parts);
  }
}

/** Length of the longest tail of `buf` that is a proper prefix of `key` (0 when none). */
function heldBack(buf: Buffer, key: Buffer): number {
  for (let k = Math.min(key.length - 1, buf.length); k > 0; k--) {
    if (buf[buf.length - k] === key[0] && buf.compare(key, 0, k, buf.length - k) === 0) return k;
  }
  return 0;
}
