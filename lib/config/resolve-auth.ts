// The authentication part of the configuration: keys reduced to their SHA-256 digests, virtual key
// ids and limits settled, and the checks that span several keys (duplicates, reserved ids).

import { createHash } from 'node:crypto';
import type { PrincipalLimits } from '../principal';
import type { ResponsesPollingConfig, ResponsesPollingOptions, VirtualKeyConfig, VirtualKeyOptions } from './options';
import type { ConfigNaming } from './format-errors';
import { durationMs } from './schema-parts';

/** Principal ids the package uses itself; a virtual key may not take them. */
export const RESERVED_PRINCIPAL_IDS = ['master', 'anonymous'];

/** The SHA-256 digest of `value`, as lower-case hex. */
export function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** The digest of a virtual key entry (from `key` or `keyHash`), or undefined when it has neither. */
function digestOf(vk: VirtualKeyOptions): string | undefined {
  if (typeof vk.key === 'string' && vk.key !== '') return sha256Hex(vk.key);
  if (typeof vk.keyHash === 'string' && /^[0-9a-fA-F]{64}$/.test(vk.keyHash)) return vk.keyHash.toLowerCase();
  return undefined;
}

/** The default id of a key: the first 12 hex digits of its digest (not enough to guess the key from). */
function idOf(vk: VirtualKeyOptions, digest: string): string {
  return typeof vk.id === 'string' && vk.id !== '' ? vk.id : digest.slice(0, 12);
}

/** How the paths in messages are spelled, in the options or in the YAML file. */
function pathsFor(naming: ConfigNaming) {
  return naming === 'yaml'
    ? {
        key: (i: number) => `general_settings.virtual_keys[${i}]`,
        masterKey: 'general_settings.master_key',
        auth: 'responses_polling.auth is none',
        authNone: 'auth: none',
        credentials: 'general_settings.master_key or virtual_keys',
      }
    : {
        key: (i: number) => `virtualKeys[${i}]`,
        masterKey: 'masterKey',
        auth: "auth is 'none'",
        authNone: "auth: 'none'",
        credentials: 'masterKey, virtualKeys or authenticate',
      };
}

/**
 * The problems that no single value shows: two virtual keys with one key or one id, a virtual key
 * equal to the master key, a reserved id, and `auth: 'none'` next to credentials. Messages name
 * paths and ids, never a key. Entries the schema rejects are skipped (already reported).
 */
export function authProblems(options: ResponsesPollingOptions, naming: ConfigNaming, where = ''): string[] {
  const paths = pathsFor(naming);
  const problems: string[] = [];
  const keys = Array.isArray(options.virtualKeys) ? options.virtualKeys : [];
  const masterDigest = typeof options.masterKey === 'string' && options.masterKey !== '' ? sha256Hex(options.masterKey) : undefined;
  const byDigest = new Map<string, number>();
  const byId = new Map<string, number>();
  keys.forEach((vk, i) => {
    if (!vk || typeof vk !== 'object') return;
    const digest = digestOf(vk);
    if (digest === undefined) return;
    const sameKey = byDigest.get(digest);
    if (digest === masterDigest) {
      problems.push(
        `${paths.key(i)} has the same key as ${paths.masterKey}. Give it a key of its own; the master key needs no virtual key entry.`,
      );
    } else if (sameKey !== undefined) {
      problems.push(`${paths.key(i)} has the same key as ${paths.key(sameKey)}. Give every virtual key its own key.`);
    }
    if (sameKey === undefined) byDigest.set(digest, i);
    const id = idOf(vk, digest);
    if (RESERVED_PRINCIPAL_IDS.includes(id)) {
      problems.push(`${paths.key(i)} has the id "${id}", which is reserved. Choose another id.`);
    } else if (byId.has(id) && sameKey === undefined) {
      problems.push(
        `${paths.key(i)} has the id "${id}", which ${paths.key(byId.get(id) as number)} already uses. ` +
          "Give every virtual key its own id; keys with one id would share each other's responses.",
      );
    }
    if (!byId.has(id)) byId.set(id, i);
  });
  if (options.auth === 'none') {
    const given = [
      options.masterKey !== undefined ? paths.masterKey : undefined,
      keys.length > 0 ? (naming === 'yaml' ? 'general_settings.virtual_keys' : 'virtualKeys') : undefined,
      options.authenticate !== undefined ? 'authenticate' : undefined,
    ].filter((p): p is string => p !== undefined);
    if (given.length > 0) {
      problems.push(
        `${paths.auth}, but ${given.join(' and ')} ${given.length > 1 ? 'are' : 'is'} set too. ` +
          `Remove ${paths.authNone} to require those credentials, or remove ${paths.credentials} to run without authentication behind your own.`,
      );
    }
  }
  return where ? problems.map((p) => `${where}: ${p}`) : problems;
}

/** The message when no authentication decision is made, naming the settings in both spellings. */
export const NO_AUTH_DECISION =
  'No authentication is configured: the routes would be open to anyone who can reach them. Set masterKey, virtualKeys or ' +
  "authenticate (in YAML: general_settings.master_key or virtual_keys), or set auth: 'none' (responses_polling.auth: none) " +
  'if the host app protects the mount point itself.';

/**
 * Authentication fails closed: without a master key, virtual keys, `authenticate` or `auth: 'none'`
 * the router is not created; a key that is present but undefined (an unset environment variable,
 * most often) is an error too, rather than a silently missing credential.
 */
export function authDecisionProblems(options: ResponsesPollingOptions): string[] {
  if (!options || typeof options !== 'object') return [];
  const problems: string[] = [];
  if (Object.prototype.hasOwnProperty.call(options, 'masterKey') && options.masterKey === undefined) {
    problems.push(
      'masterKey is undefined (is the environment variable it reads unset?). Set it to the key clients must send, ' +
        "or remove masterKey (and set auth: 'none' if the host app protects the mount point).",
    );
  }
  const keys = Array.isArray(options.virtualKeys) ? options.virtualKeys : [];
  keys.forEach((vk, i) => {
    if (!vk || typeof vk !== 'object') return;
    for (const field of ['key', 'keyHash'] as const) {
      if (Object.prototype.hasOwnProperty.call(vk, field) && vk[field] === undefined) {
        problems.push(
          `virtualKeys[${i}].${field} is undefined (is the environment variable it reads unset?). Set it, or remove that virtual key.`,
        );
      }
    }
  });
  const decided = options.masterKey !== undefined || keys.length > 0 || options.authenticate !== undefined || options.auth !== undefined;
  if (!decided) problems.push(NO_AUTH_DECISION);
  return problems;
}

function limitsOf(vk: VirtualKeyOptions): PrincipalLimits {
  const limits: PrincipalLimits = {};
  if (vk.rpmLimit !== undefined) limits.rpm = vk.rpmLimit;
  if (vk.tpmLimit !== undefined) limits.tpm = vk.tpmLimit;
  if (vk.maxParallelRequests !== undefined) limits.maxParallel = vk.maxParallelRequests;
  if (vk.maxBudget !== undefined) limits.maxBudget = vk.maxBudget;
  if (vk.budgetDuration !== undefined) limits.budgetPeriodMs = durationMs(vk.budgetDuration);
  return limits;
}

/** The authentication fields of the resolved configuration; call after validation passed. */
export function resolveAuth(
  options: ResponsesPollingOptions,
): Pick<ResponsesPollingConfig, 'auth' | 'masterKeyHash' | 'virtualKeys' | 'authenticate'> {
  const virtualKeys: VirtualKeyConfig[] = (options.virtualKeys ?? []).map((vk) => {
    const hash = digestOf(vk) as string;
    return { id: idOf(vk, hash), hash, limits: limitsOf(vk), models: vk.models ? [...vk.models] : undefined };
  });
  const masterKeyHash = options.masterKey !== undefined ? sha256Hex(options.masterKey) : undefined;
  const authenticate = options.authenticate;
  const required = masterKeyHash !== undefined || virtualKeys.length > 0 || authenticate !== undefined;
  return {
    auth: required ? 'required' : 'none',
    masterKeyHash,
    virtualKeys,
    authenticate,
  };
}
