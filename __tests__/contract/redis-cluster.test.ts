// The Redis store and the Redis limiter on a real 3-master Redis Cluster started for this file:
// the store contract, keys spread across the masters, pub/sub between instances, the script
// cache per node, and the limiter's one slot.

import { createClient, createCluster, type RedisClientType } from '@redis/client';
import { limiterKeys } from '../../lib/limiter/keys';
import { createRedisLimiter, type RedisLimiter } from '../../lib/limiter/redis-limiter';
import { queueKeys, responseKeys } from '../../lib/store/keys';
import { clusterAsClient, type RedisClusterLike } from '../../lib/store/redis-connection';
import { createRedisStore, type RedisStore } from '../../lib/store/redis-store';
import type { ControlMessage } from '../../lib/types';
import { startRedisCluster, type RedisClusterHandle } from '../helpers/redis-cluster';
import { randomPrefix } from '../helpers/redis';
import { waitFor } from '../helpers/flow';
import { admission, awayFromWindowEnd, refusal, subject } from '../helpers/limiter-inputs';
import { appendInput, createInput, events, newId } from '../helpers/store-inputs';
import { describeStoreContract } from './store-contract';

let cluster: RedisClusterHandle;
/** One plain client per master, to look at what each node holds. */
let nodes: RedisClientType[] = [];

beforeAll(async () => {
  cluster = await startRedisCluster();
  nodes = cluster.urls.map((url) => createClient({ url }) as RedisClientType);
  await Promise.all(nodes.map((n) => n.connect()));
}, 90_000);

afterAll(async () => {
  await Promise.all(nodes.map((n) => n.close()));
  await cluster?.stop();
}, 30_000);

function rootNodes(): { url: string }[] {
  return cluster.urls.map((url) => ({ url }));
}

/** Keys under `prefix` on each master, in the order of `cluster.urls`. */
async function keysPerNode(prefix: string): Promise<string[][]> {
  return Promise.all(
    nodes.map(async (node) => {
      const found: string[] = [];
      for await (const keys of node.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) found.push(...keys);
      return found.sort();
    }),
  );
}

async function deleteKeys(prefix: string): Promise<void> {
  const perNode = await keysPerNode(prefix);
  // Keys of different slots cannot go in one DEL on a cluster node.
  await Promise.all(perNode.map((keys, i) => Promise.all(keys.map((k) => nodes[i]!.del(k)))));
}

describeStoreContract('Redis Cluster store', async () => {
  const keyPrefix = randomPrefix();
  const store = createRedisStore({ cluster: { rootNodes: rootNodes() }, keyPrefix });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await deleteKeys(keyPrefix);
    },
  };
});

describe('Redis Cluster store: cluster specifics', () => {
  let prefix: string;
  let store: RedisStore;
  const extra: RedisStore[] = [];

  beforeEach(() => {
    prefix = randomPrefix();
    store = createRedisStore({ cluster: { rootNodes: rootNodes() }, keyPrefix: prefix });
  });

  afterEach(async () => {
    await Promise.all([store, ...extra.splice(0)].map((s) => s.close()));
    await deleteKeys(prefix);
  });

  test('responses land on different masters, and the keys of one response all on the same one', async () => {
    const inputs = Array.from({ length: 24 }, () => createInput());
    for (const input of inputs) {
      await store.create(input);
      await store.append(input.id, appendInput({ events: events(1, 2), snapshot: { json: '{}', seq: 1 } }));
    }
    const perNode = await keysPerNode(prefix);
    expect(perNode.filter((keys) => keys.length > 0).length).toBeGreaterThanOrEqual(2);
    expect(perNode.flat()).toHaveLength(inputs.length * 3);
    for (const input of inputs) {
      const k = responseKeys(prefix, input.id);
      const holders = perNode.filter((keys) => keys.includes(k.meta));
      expect(holders).toHaveLength(1);
      expect(holders[0]).toEqual(expect.arrayContaining([k.meta, k.snapshot, k.log]));
      expect((await store.read(input.id, null))!.tail).toEqual(events(2, 2)); // after the snapshot at 1
    }
  });

  test('after SCRIPT FLUSH on every node every call still works (EVAL on NOSCRIPT, on the right node)', async () => {
    const input = createInput();
    await Promise.all(nodes.map((n) => n.scriptFlush()));
    await store.create(input);
    await Promise.all(nodes.map((n) => n.scriptFlush()));
    expect(await store.append(input.id, appendInput({ events: events(1, 1) }))).toBe('ok');
    await Promise.all(nodes.map((n) => n.scriptFlush()));
    expect((await store.readEvents(input.id, null, 0))!.events).toEqual(events(1, 1));
    expect((await store.cancel(input.id, null, 60)).outcome).toBe('cancelled');
  });

  test('a store given a cluster client uses it; another instance hears cancel and delete of responses on any node', async () => {
    const client = createCluster({ rootNodes: rootNodes() });
    await client.connect();
    try {
      const borrowed = createRedisStore({ client, keyPrefix: prefix });
      const received: ControlMessage[] = [];
      await store.subscribe((m) => received.push(m));
      const inputs = Array.from({ length: 6 }, () => createInput());
      for (const input of inputs) {
        await borrowed.create(input);
        expect((await borrowed.cancel(input.id, null, 60)).outcome).toBe('cancelled');
      }
      expect((await borrowed.delete(inputs[0]!.id, null)).deleted).toBe(true);
      await waitFor(() => received.length === inputs.length + 1, 5000, 'every control message');
      // Messages published on different masters reach the subscriber's node over the cluster bus,
      // so their order across masters is not defined.
      const expected: ControlMessage[] = [...inputs.map((i) => ({ id: i.id, action: 'cancel' as const })), { id: inputs[0]!.id, action: 'delete' }];
      const order = (a: ControlMessage, b: ControlMessage) => `${a.action}${a.id}`.localeCompare(`${b.action}${b.id}`);
      expect([...received].sort(order)).toEqual(expected.sort(order));
      // The cancels came from scripts on more than one master.
      expect((await keysPerNode(prefix)).filter((keys) => keys.length > 0).length).toBeGreaterThanOrEqual(2);
      await borrowed.close();
      expect(client.isOpen).toBe(true);
      expect(await client.set(`${prefix}probe`, '1')).toBe('OK');
    } finally {
      await client.close();
    }
  });
});

describe('Redis Cluster connections', () => {
  let prefix: string;
  beforeEach(() => {
    prefix = randomPrefix();
  });
  afterEach(async () => {
    await deleteKeys(prefix);
  });

  /** Redirections (MOVED replies) the masters have answered so far. */
  async function movedReplies(): Promise<number> {
    const stats = await Promise.all(nodes.map((n) => n.info('errorstats')));
    return stats.reduce((sum, info) => sum + Number(/errorstat_MOVED:count=(\d+)/.exec(info)?.[1] ?? 0), 0);
  }

  /** Client connections each master holds, besides the one looking. */
  async function connectionsPerNode(): Promise<number[]> {
    const lists = await Promise.all(nodes.map((n) => n.sendCommand(['CLIENT', 'LIST'])));
    return lists.map((list) => String(list).trim().split('\n').length - 1);
  }

  test("a store's side records (turns, native ids and their schedule, leases) go to the node holding their key, never redirected", async () => {
    const store = createRedisStore({ cluster: { rootNodes: rootNodes() }, keyPrefix: prefix });
    try {
      await store.ping();
      const before = await movedReplies();
      const upstream = { id: 'up_1', deployment: { index: 0, modelName: 'gpt', apiBase: 'http://127.0.0.1:1/v1' }, stored: true };
      const native = { owner: 'owner-a', deployment: { index: 0, modelName: 'gpt', apiBase: 'http://127.0.0.1:1/v1' }, model: 'gpt', createdAt: Date.now() };
      // Ids on many slots, so on every master.
      for (let i = 0; i < 9; i++) {
        const id = newId();
        await store.saveTurn(id, { owner: 'owner-a', path: 'polling', previousResponseId: null, instructions: null, inputItems: [] }, 60);
        await store.setTurnUpstream(id, upstream, 60);
        await store.keepTurn(id, 60);
        expect((await store.readTurn(id, null))?.upstream).toEqual(upstream);
        await store.forgetTurn(id);
        await store.rememberNative(id, native, 60);
        expect(await store.claimNativeEnd(id, 60)).toBe(true);
        await store.scheduleNative(id, Date.now() - 1000);
        expect(await store.dueNatives(Date.now(), 100)).toContain(id);
        await store.unscheduleNative(id);
        expect(await store.forgetNative(id)).toBe(true);
        expect(await store.holdLease(`lease-${i}`, 'holder-a', 60_000)).toBe(true);
        expect(await store.holdLease(`lease-${i}`, 'holder-a', 60_000)).toBe(true);
      }
      expect((await movedReplies()) - before).toBe(0);
    } finally {
      await store.close();
    }
  });

  test('a cluster closed while redirected commands are in flight leaves no connection open on any master', async () => {
    const baseline = await connectionsPerNode();
    const client = clusterAsClient(createCluster({ rootNodes: rootNodes() }) as unknown as RedisClusterLike);
    client.on('error', () => undefined);
    await client.connect();
    // EXISTS has no route here, so it goes to any master: with keys of one slot, most calls are
    // redirected, and each redirection rediscovers the topology, after the close too. The masters
    // hold their replies until the commands are written and the close has begun.
    await Promise.all(nodes.map((n) => n.sendCommand(['CLIENT', 'PAUSE', '500', 'ALL'])));
    const sent = Array.from({ length: 12 }, (_, i) => client.sendCommand(['EXISTS', `${prefix}{one}:${i}`]));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await client.close();
    await Promise.allSettled(sent);
    const settled = await waitFor(async () => {
      const now = await connectionsPerNode();
      return now.every((n, i) => n <= baseline[i]!) ? now : undefined;
    }, 10_000, `connections back to ${JSON.stringify(baseline)}`);
    expect(settled.every((n, i) => n <= baseline[i]!)).toBe(true);
  });
});

describe('Redis Cluster store: the queue', () => {
  let prefix: string;
  let store: RedisStore;

  beforeEach(() => {
    prefix = randomPrefix();
    store = createRedisStore({ cluster: { rootNodes: rootNodes() }, keyPrefix: prefix });
  });

  afterEach(async () => {
    await store.close();
    await deleteKeys(prefix);
  });

  test('the queues of different deployment groups spread over the masters, each group on one; records stay on their own slots', async () => {
    const groups = Array.from({ length: 12 }, (_, i) => `model-${i}`);
    const inputs = groups.map((group) => {
      const input = createInput();
      return { ...input, queue: { group, principal: 'owner-a', job: '{}', slot: 'd0', slotLimit: 1, maxWaitMs: 0 } };
    });
    for (const input of inputs) await store.create(input);
    const perNode = await keysPerNode(prefix);
    const groupNodes = groups.map((group) => {
      const k = queueKeys(prefix, group);
      const holders = perNode.map((keys, i) => (keys.includes(k.jobs) ? i : -1)).filter((i) => i >= 0);
      expect(holders).toHaveLength(1);
      expect(perNode[holders[0]!]).toEqual(expect.arrayContaining([k.jobs, k.ring]));
      return holders[0];
    });
    expect(new Set(groupNodes).size).toBeGreaterThanOrEqual(2);
    for (const [i, input] of inputs.entries()) {
      const { claim } = await store.claim(groups[i]!, { leaseMs: 30_000, maxAttempts: 3 });
      expect(claim?.id).toBe(input.id);
      const taken = await store.startQueued(input.id, 30_000);
      expect(taken.outcome).toBe('claimed');
      await store.releaseClaim(groups[i]!, input.id);
    }
    // Released claims leave no queue keys behind.
    expect((await keysPerNode(prefix)).flat().filter((key) => key.includes('{q:'))).toEqual([]);
  });
});

describe('Redis Cluster limiter', () => {
  let prefix: string;
  let limiter: RedisLimiter;
  const extra: RedisLimiter[] = [];

  beforeEach(async () => {
    prefix = randomPrefix();
    limiter = createRedisLimiter({ cluster: { rootNodes: rootNodes() }, keyPrefix: prefix });
    await awayFromWindowEnd();
  });

  afterEach(async () => {
    await Promise.all([limiter, ...extra.splice(0)].map((l) => l.close()));
    await deleteKeys(prefix);
  });

  test('admit, release and the rpm refusal work, shared with an instance given a cluster client', async () => {
    const client = createCluster({ rootNodes: rootNodes() });
    try {
      const other = createRedisLimiter({ client, keyPrefix: prefix });
      extra.push(other);
      const key = subject('key', { rpm: 2, maxParallel: 1 });
      const deployment = subject('deployment', { rpm: 5 });
      const held = admission([key, deployment]);
      expect(await limiter.admit(held)).toMatchObject({ admitted: true, state: { remainingRequests: 1 } });
      expect(refusal(await other.admit(admission([key, deployment]))).reason).toBe('parallel');
      expect(await other.release(held.id, [key.key, deployment.key])).toBe(true);
      expect(await limiter.release(held.id, [key.key, deployment.key])).toBe(false);
      expect((await other.admit(admission([key, deployment]))).admitted).toBe(true);
      const refused = refusal(await limiter.admit(admission([key, deployment])));
      expect(refused).toMatchObject({ reason: 'rpm', subject: key.key });
      expect(await limiter.usage(key.key)).toMatchObject({ requestsThisWindow: 2, running: 1 });
      expect(await limiter.usage(deployment.key)).toMatchObject({ requestsThisWindow: 2, running: 0 });
    } finally {
      await client.close();
    }
  });

  test('every limiter key lives in the one {limits} slot, so on one master', async () => {
    const key = subject('key', { rpm: 5, maxParallel: 5, maxBudget: 10 });
    const deployment = subject('deployment', { rpm: 5 });
    const input = admission([key, deployment]);
    await limiter.admit(input);
    await limiter.record(input.id, [key.key, deployment.key], { tokens: 3, spend: 0.5 });
    const perNode = await keysPerNode(prefix);
    const holders = perNode.filter((keys) => keys.length > 0);
    expect(holders).toHaveLength(1);
    expect(holders[0]).toContain(limiterKeys(prefix).admission(input.id));
    expect(holders[0]).toHaveLength(6);
  });
});
