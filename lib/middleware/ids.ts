// Random identifiers: response ids and limiter admission ids.

import { randomHex } from '../random-hex';

/** A new response id: the configured prefix and 192 random bits. */
export function newResponseId(prefix: string): string {
  return `${prefix}${randomHex(24)}`;
}

/** An admission id for a request that creates no response (pass-through). */
export function newAdmissionId(): string {
  return `adm_${randomHex(16)}`;
}
