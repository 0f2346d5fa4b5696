// The store scripts with their SHA1 digests, and the one table that maps return codes to outcomes.

import { createHash } from 'node:crypto';
import type { AppendOutcome, RestoreOutcome } from '../../types';
import { APPEND_SCRIPT } from './append';
import { CANCEL_SCRIPT } from './cancel';
import { CREATE_SCRIPT } from './create';
import { DELETE_SCRIPT } from './delete';
import { FAIL_QUEUED_SCRIPT } from './fail-queued';
import { START_QUEUED_SCRIPT } from './start-queued';
import { READ_EVENTS_SCRIPT } from './read-events';
import { READ_SCRIPT } from './read';
import { RESTORE_SCRIPT } from './restore';
import { WEBHOOK_CLAIM_SCRIPT, WEBHOOK_SETTLE_SCRIPT } from './webhooks';

/** A Lua script and the SHA1 that `EVALSHA` knows it by (computed here, never asked of Redis). */
export interface LuaScript {
  readonly name: string;
  readonly source: string;
  readonly sha: string;
}

/** A script with its SHA1 digest. Shared with the limiter's scripts. */
export function defineScript(name: string, source: string): LuaScript {
  return { name, source, sha: createHash('sha1').update(source).digest('hex') };
}

/** Every script of the Redis store, one per state transition. */
export const SCRIPTS = {
  create: defineScript('create', CREATE_SCRIPT),
  read: defineScript('read', READ_SCRIPT),
  readEvents: defineScript('readEvents', READ_EVENTS_SCRIPT),
  append: defineScript('append', APPEND_SCRIPT),
  cancel: defineScript('cancel', CANCEL_SCRIPT),
  delete: defineScript('delete', DELETE_SCRIPT),
  restore: defineScript('restore', RESTORE_SCRIPT),
  startQueued: defineScript('startQueued', START_QUEUED_SCRIPT),
  failQueued: defineScript('failQueued', FAIL_QUEUED_SCRIPT),
  webhookClaim: defineScript('webhookClaim', WEBHOOK_CLAIM_SCRIPT),
  webhookSettle: defineScript('webhookSettle', WEBHOOK_SETTLE_SCRIPT),
} as const;

/** Return codes of the scripts, as listed in their headers. */
export const SCRIPT_CODES = {
  create: { 1: 'created', 0: 'exists', 2: 'queue_full' },
  read: { 0: 'found', 1: 'found_swept', [-1]: 'not_found' },
  append: {
    0: 'ok',
    1: 'ok',
    [-1]: 'gone',
    [-2]: 'cancelled',
    [-3]: 'terminal',
    [-4]: 'fenced',
    [-5]: 'fenced',
  } satisfies Record<number, AppendOutcome>,
  cancel: { 0: 'cancelled', 1: 'already_cancelled', 2: 'terminal', [-1]: 'not_found' },
  delete: { 0: 'not_found', 1: 'deleted', 2: 'ended' },
  restore: { 0: 'restored', 1: 'exists', 2: 'deleted' } satisfies Record<number, RestoreOutcome>,
  startQueued: { 0: 'claimed', [-1]: 'gone', [-2]: 'cancelled', [-3]: 'terminal', [-4]: 'started', [-5]: 'expired' },
  failQueued: { 1: 'failed', 0: 'unchanged' },
  webhookClaim: { 1: 'claimed', 0: 'not_due', [-1]: 'expired' },
  webhookSettle: { 1: 'settled', 0: 'not_ours' },
} as const;
