// Builds a host Express app (Express 5, or Express 4 in the `express4` jest project) that mounts
// the router under a prefix, serves it on a free port, and hands out an official OpenAI client.

import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import OpenAI from 'openai';
import { createClient, type RedisClientType } from '@redis/client';
import { responsesPolling, type ResponsesPollingRouter } from '../../lib';
import type { ResponsesPollingOptions } from '../../lib/config/options';
import { createRedisStore } from '../../lib/store/redis-store';
import { MemoryStore } from '../../lib/store/memory-store';
import { silentLogger } from '../../lib/logger';
import type { ResponseStore } from '../../lib/types';
import { randomPrefix, testRedisUrl } from './redis';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream';
import { waitFor } from './flow';

export { waitFor };

/** A running host app. */
export interface TestApp {
  /** `http://127.0.0.1:PORT` */
  origin: string;
  /** Base URL for the OpenAI client: origin + prefix + `/v1`. */
  baseURL: string;
  router: ResponsesPollingRouter;
  server: Server;
  client(apiKey?: string): OpenAI;
  close(): Promise<void>;
}

/**
 * The options of a test about something other than authentication: where they make no
 * authentication decision (no masterKey, virtualKeys, authenticate or auth), they choose
 * `auth: 'none'` explicitly, since the router refuses to start without a decision.
 */
export function withAuthChoice(options: ResponsesPollingOptions): ResponsesPollingOptions {
  const decided = ['masterKey', 'virtualKeys', 'authenticate', 'auth'].some((k) => k in options);
  return decided ? options : { ...options, auth: 'none' };
}

/** Starts a host app with `options` (see {@link withAuthChoice}) mounted under `prefix` (default `/llm`). */
export async function startApp(options: ResponsesPollingOptions, prefix = '/llm'): Promise<TestApp> {
  const app = express();
  app.get('/host-route', (_req, res) => {
    res.json({ host: true });
  });
  const router = responsesPolling({ logger: silentLogger, ...withAuthChoice(options) });
  app.use(prefix, router);
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  const baseURL = `${origin}${prefix === '/' ? '' : prefix}/v1`;
  return {
    origin,
    baseURL,
    router,
    server,
    client: (apiKey = 'test-key') => new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 20000 }),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await router.close(2000);
    },
  };
}

/** A store on the test Redis under a fresh prefix, with a raw client to inspect its keys. */
export function redisStoreForTest(): {
  store: ResponseStore;
  prefix: string;
  inspect: RedisClientType;
  /** Every key under the store's prefix. */
  keys(): Promise<string[]>;
  close(): Promise<void>;
} {
  const prefix = randomPrefix();
  const store = createRedisStore({ url: testRedisUrl(), keyPrefix: prefix, logger: silentLogger });
  const inspect = createClient({ url: testRedisUrl() });
  inspect.on('error', () => undefined);
  return {
    store,
    prefix,
    inspect,
    async keys() {
      if (!inspect.isOpen) await inspect.connect();
      const keys: string[] = [];
      for await (const batch of inspect.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) keys.push(...batch);
      return keys;
    },
    async close() {
      await store.close();
      if (inspect.isOpen) await inspect.quit();
    },
  };
}

/** Both stores, for tests that run the same flow on each. */
export const STORE_KINDS = ['redis', 'memory'] as const;

/** A fresh store of `kind` (the memory one needs no cleanup beyond close). */
export function storeOfKind(kind: (typeof STORE_KINDS)[number]): StoreHandle {
  if (kind === 'memory') {
    const store = new MemoryStore({ logger: silentLogger });
    return { store, close: () => store.close() };
  }
  return redisStoreForTest();
}

/** Polls `GET /responses/{id}` with `client` until the response has `status`; returns it. */
export function waitForStatus(client: OpenAI, id: string, status: string, timeoutMs = 10000): Promise<OpenAI.Responses.Response> {
  return waitFor(async () => {
    const r = await client.responses.retrieve(id);
    return r.status === status ? r : undefined;
  }, timeoutMs, `status ${status}`);
}

/** A store a test owns: the store, and how to close it and drop its data. */
export interface StoreHandle {
  store: ResponseStore;
  close(): Promise<void>;
}

/** What {@link useApp} starts for each test: a fake upstream, a store and the host app over both. */
export interface AppFixture<S extends StoreHandle = StoreHandle> {
  upstream: FakeUpstream;
  store: S;
  app: TestApp;
}

/**
 * The setup most integration suites share, registered as `beforeEach` / `afterEach` of the
 * enclosing block: a fresh fake upstream and store (of `kind`, or from a factory such as
 * `redisStoreForTest`), the app built from `options(upstream, store)` (mounted under `prefix`),
 * then `ready(fixture)`; all closed after each test, the app first.
 */
export function useApp<S extends StoreHandle = StoreHandle>(
  makeStore: (typeof STORE_KINDS)[number] | (() => S),
  options: (upstream: FakeUpstream, store: ResponseStore) => ResponsesPollingOptions,
  ready: (fixture: AppFixture<S>) => void,
  prefix?: string,
): void {
  let fixture: AppFixture<S> | undefined;
  beforeEach(async () => {
    const upstream = await startFakeUpstream();
    const store = (typeof makeStore === 'function' ? makeStore() : storeOfKind(makeStore)) as S;
    let app: TestApp;
    try {
      app = await startApp(options(upstream, store.store), prefix);
    } catch (err) {
      await upstream.close();
      await store.close();
      throw err;
    }
    fixture = { upstream, store, app };
    ready(fixture);
  });
  afterEach(async () => {
    if (!fixture) return;
    const { app, upstream, store } = fixture;
    fixture = undefined;
    await app.close();
    await upstream.close();
    await store.close();
  });
}
