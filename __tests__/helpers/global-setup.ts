// Jest globalSetup: uses REDIS_URL when given, otherwise starts one redis-server for all workers.

import { startRedisServer, type RedisServerHandle } from './redis-server';

/** Where the server started here waits for global-teardown. */
export const SERVER_HANDLE = Symbol.for('express-responses-polling.test-redis-server');

export default async function globalSetup(): Promise<void> {
  // Jest runs globalSetup once per project; the first one starts the server, the rest reuse it.
  if (process.env.REDIS_URL) return;
  const server: RedisServerHandle = await startRedisServer();
  (globalThis as Record<symbol, unknown>)[SERVER_HANDLE] = server;
  // Test workers are forked after this, so they inherit the variable.
  process.env.REDIS_URL = server.url;
}
