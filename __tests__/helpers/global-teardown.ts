// Jest globalTeardown: stops the redis-server that global-setup started, if it started one.

import { SERVER_HANDLE } from './global-setup';
import type { RedisServerHandle } from './redis-server';

export default async function globalTeardown(): Promise<void> {
  const holder = globalThis as Record<symbol, unknown>;
  const server = holder[SERVER_HANDLE] as RedisServerHandle | undefined;
  if (!server) return;
  delete holder[SERVER_HANDLE];
  await server.stop();
  if (process.env.REDIS_URL === server.url) delete process.env.REDIS_URL;
}
