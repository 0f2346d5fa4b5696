// Who is calling, and the owner hash a response is stored under (a leaf: config, store and middleware import it).

import { createHash } from 'node:crypto';

/** Limits of one principal, enforced by the pre-call limiter. Absent fields: no limit. */
export interface PrincipalLimits {
  /** Requests per minute. */
  rpm?: number;
  /** Tokens per minute (as the upstream reports them in `usage`). */
  tpm?: number;
  /** Background responses running at once. */
  maxParallel?: number;
  /** Spend limit, in the currency of the configured model prices. */
  maxBudget?: number;
  /** Length of a budget period in ms: the spend starts again from 0 when each period ends (aligned to the Unix epoch). Absent: never. */
  budgetPeriodMs?: number;
}

/** Who is calling. `id` is never a key: it is a stable name or a hash of one. */
export interface Principal {
  /** Stable name of the caller; responses are owned by a hash of it. */
  id: string;
  /** An administrator may read, cancel and delete any response. */
  admin: boolean;
  /** Limits of this caller; absent: none beyond the deployment's. */
  limits?: PrincipalLimits;
  /** The model names (a trailing `*` matches any suffix) this caller may use; absent: every model. */
  models?: string[];
}

/** The owner hash stored with a response: a one-way hash of the principal id. */
export function ownerHash(principal: Principal): string {
  return createHash('sha256').update(`principal:${principal.id}`).digest('hex');
}

/** The owner argument for store calls: `null` (anyone's) for administrators. */
export function ownerFilter(principal: Principal): string | null {
  return principal.admin ? null : ownerHash(principal);
}
