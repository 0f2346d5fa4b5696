// Random identifiers: response ids and limiter admission ids.

import { randomBytes } from 'node:crypto';

/** A new response id: the configured prefix and 192 random bits. */
export function newResponseId(prefix: string): string {
  return `${prefix}${randomBytes(24).toString('hex')}`;
}

/** An admission id for a request that creates no response (pass-through). */
export function newAdmissionId(): string {
  return `adm_${randomBytes(16).toString('hex')}`;
}
