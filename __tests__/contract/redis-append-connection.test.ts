// The Redis store's appends go over a connection of their own (appendConnection 'separate', the
// default): opened at the first append, closed with the store, a duplicate of a client the caller
// passed (whose own client is never closed), or none with 'shared'. Each test has a private
// redis-server, so its connection counts are exact.

import { createClient, type RedisClientType } from '@redis/client';
import { createRedisStore, type RedisStore } from '../../lib/store/redis-store';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server';
import { randomPrefix } from '../helpers/redis';
import { waitFor } from '../helpers/flow';
import { appendInput, createInput, events } from '../helpers/store-inputs';

jest.setTimeout(30_000);

let server: RedisServerHandle;
let admin: RedisClientType;

beforeAll(async () => {
  server = await startRedisServer();
  admin = createClient({ url: server.url }) as RedisClientType;
  await admin.connect();
});

afterAll(async () => {
  await admin.close();
  await server.stop();
});

/** Client connections the server holds, besides the admin's, with the last command each ran. */
async function connections(): Promise<{ id: string; cmd: string }[]> {
  const adminId = String(await admin.sendCommand(['CLIENT', 'ID']));
  const list = String(await admin.sendCommand(['CLIENT', 'LIST']));
  return list
    .split('\n')
    .filter(Boolean)
    .map((line) => ({ id: /\bid=(\d+)/.exec(line)?.[1] ?? '', cmd: /\bcmd=(\S+)/.exec(line)?.[1] ?? '' }))
    .filter((c) => c.id !== adminId);
}

/** Creates a response, appends two events, and reads them back. */
async function createAppendRead(store: RedisStore): Promise<void> {
  const input = createInput();
  await store.create(input);
  expect(await store.append(input.id, appendInput({ events: events(1, 2) }))).toBe('ok');
  expect((await store.read(input.id, null))!.tail).toEqual(events(1, 2));
}

test('appends open a second connection at the first append, reads stay on the first, and close() closes both', async () => {
  const store = createRedisStore({ url: server.url, keyPrefix: randomPrefix() });
  try {
    const input = createInput();
    await store.create(input);
    // A store that never appends (an API-only process) holds one connection.
    expect(await connections()).toHaveLength(1);
    const [main] = await connections();

    expect(await store.append(input.id, appendInput({ events: events(1, 2) }))).toBe('ok');
    const after = await connections();
    expect(after).toHaveLength(2);
    const appends = after.find((c) => c.id !== main!.id)!;
    expect(['evalsha', 'eval']).toContain(appends.cmd);

    await store.read(input.id, null);
    await store.append(input.id, appendInput({ firstSeq: 3, events: events(3, 3) }));
    expect((await connections()).map((c) => c.id).sort()).toEqual([main!.id, appends.id].sort());
    expect((await store.read(input.id, null))!.tail).toEqual(events(1, 3));
  } finally {
    await store.close();
  }
  await waitFor(async () => (await connections()).length === 0, 5000, 'both connections closed');
});

test("appendConnection 'shared': appends use the store's one connection", async () => {
  const store = createRedisStore({ url: server.url, keyPrefix: randomPrefix(), appendConnection: 'shared' });
  try {
    await createAppendRead(store);
    expect(await connections()).toHaveLength(1);
  } finally {
    await store.close();
  }
  await waitFor(async () => (await connections()).length === 0, 5000, 'the connection closed');
});

test("a client the caller passed serves reads; appends go over its duplicate, which close() closes while the caller's client stays open", async () => {
  const own = createClient({ url: server.url });
  await own.connect();
  const ownId = String(await own.sendCommand(['CLIENT', 'ID']));
  const store = createRedisStore({ client: own, keyPrefix: randomPrefix() });
  try {
    await createAppendRead(store);
    const list = await connections();
    expect(list).toHaveLength(2);
    expect(list.map((c) => c.id)).toContain(ownId);
  } finally {
    await store.close();
  }
  await waitFor(async () => (await connections()).length === 1, 5000, 'the duplicate closed');
  expect((await connections())[0]!.id).toBe(ownId);
  expect(own.isOpen).toBe(true);
  expect(await own.ping()).toBe('PONG');
  await own.close();
});

test('after close() an append is refused and opens no connection', async () => {
  const store = createRedisStore({ url: server.url, keyPrefix: randomPrefix() });
  const input = createInput();
  await store.create(input);
  await store.close();
  await expect(store.append(input.id, appendInput({ events: events(1, 1) }))).rejects.toThrow('closed');
  await waitFor(async () => (await connections()).length === 0, 5000, 'no connection left');
});
