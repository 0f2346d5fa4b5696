// Random hex strings for ids, drawn from a pooled buffer of crypto-strong bytes.

import { randomFillSync } from 'node:crypto';

/** Bytes drawn from the CSPRNG at once: one native call for many ids (as `crypto.randomUUID` caches its entropy). */
const POOL_BYTES = 4096;
const pool = Buffer.allocUnsafe(POOL_BYTES);
let offset = POOL_BYTES;

/**
 * `bytes` random bytes (at most 4096) as lowercase hex. Each byte of the pool is used once;
 * a `randomBytes` call per id showed in create profiles (one native call each).
 */
export function randomHex(bytes: number): string {
  if (offset + bytes > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const hex = pool.toString('hex', offset, offset + bytes);
  offset += bytes;
  return hex;
}
