// Redis access for tests: the URL global-setup provides, and a fresh key prefix per test.

import { randomBytes } from 'node:crypto';

/** The Redis the tests use; fails loudly (never skips) when global-setup did not provide one. */
export function testRedisUrl(): string {
  const url = process.env.REDIS_URL;
  if (!url) {
    throw new Error(
      'REDIS_URL is not set: run the tests through jest (its globalSetup starts redis-server), ' +
        'or set REDIS_URL. Install Redis with `apt-get install redis-server`.',
    );
  }
  return url;
}

/** A key prefix no other test uses, such as `t:9f2c4a1b07de:`. */
export function randomPrefix(): string {
  return `t:${randomBytes(6).toString('hex')}:`;
}
