// The limiter scripts with their SHA1 digests, and the one table that maps return codes to outcomes.

import { defineScript } from '../../store/scripts';
import type { AcquireOutcome, RefusalReason } from '../types';
import { ACQUIRE_SCRIPT } from './acquire';
import { ADMIT_SCRIPT } from './admit';
import { RECORD_SCRIPT } from './record';
import { RELEASE_SCRIPT } from './release';
import { RENEW_SCRIPT } from './renew';
import { ROLLBACK_SCRIPT } from './rollback';
import { USAGE_SCRIPT } from './usage';

/** Every script of the Redis limiter, one per transition. */
export const LIMITER_SCRIPTS = {
  admit: defineScript('limiter-admit', ADMIT_SCRIPT),
  rollback: defineScript('limiter-rollback', ROLLBACK_SCRIPT),
  release: defineScript('limiter-release', RELEASE_SCRIPT),
  renew: defineScript('limiter-renew', RENEW_SCRIPT),
  acquire: defineScript('limiter-acquire', ACQUIRE_SCRIPT),
  record: defineScript('limiter-record', RECORD_SCRIPT),
  usage: defineScript('limiter-usage', USAGE_SCRIPT),
} as const;

/** Return codes of the scripts, as listed in their headers. */
export const LIMITER_CODES = {
  admit: { 1: 'admitted', [-1]: 'rpm', [-2]: 'tpm', [-3]: 'parallel', [-4]: 'budget' } satisfies Record<number, 'admitted' | RefusalReason>,
  rollback: { 1: 'undone', 0: 'nothing' },
  release: { 1: 'released', 0: 'already_released' },
  acquire: { 1: 'acquired', 0: 'full', [-1]: 'released' } satisfies Record<number, AcquireOutcome>,
  record: { 1: 'recorded', 0: 'already_recorded' },
} as const;
