// The webhook outbox on a real 3-master Redis Cluster started for this file: the contract, queues
// in the slots of their responses, and the walk that finds a queue whose note was lost.

import { createRedisStore, type RedisStore } from '../../lib/store/redis-store';
import { webhookActiveKey, responseKeys, webhookQueueKeys } from '../../lib/store/keys';
import { queueTagFor, slotOfTag } from '../../lib/store/cluster-slots';
import { outboxPlan } from '../../lib/webhooks/outbox-plan';
import { startRedisCluster, type RedisClusterHandle } from '../helpers/redis-cluster';
import { randomPrefix } from '../helpers/redis';
import { createInput } from '../helpers/store-inputs';
import { describeOutboxContract } from './webhook-outbox-contract';

let cluster: RedisClusterHandle;

beforeAll(async () => {
  cluster = await startRedisCluster();
}, 90_000);

afterAll(async () => {
  await cluster?.stop();
}, 30_000);

const clusterStore = (keyPrefix = randomPrefix()): RedisStore => createRedisStore({ cluster: { rootNodes: cluster.urls.map((url) => ({ url })) }, keyPrefix });

describeOutboxContract('Redis Cluster store', () => clusterStore(), { perSlotQueues: true });

const ENDPOINT = { url: 'http://127.0.0.1:1/hook', secret: 'whsec_' + Buffer.from('cluster-secret-0123456789').toString('base64'), events: ['response.cancelled' as const] };

describe('webhook queues on a Redis Cluster', () => {
  test('each response’s queue is in the slot of its keys, so the terminal script writes both in one step', () => {
    for (const id of ['resp_a', 'resp_b', 'resp_0123456789abcdef0123456789abcdef0123']) {
      const tag = queueTagFor(id);
      expect(slotOfTag(tag)).toBe(slotOfTag(id));
      const { queue } = webhookQueueKeys('p:', tag);
      expect(queue).toBe(`p:{${tag}}:queue`);
      expect(responseKeys('p:', id).meta).toBe(`p:{${id}}:meta`);
    }
  });

  test('a delivery whose active note was lost is found by the walk of every slot’s queue (a restarted instance runs it first)', async () => {
    const prefix = randomPrefix();
    const first = clusterStore(prefix);
    const later = clusterStore(prefix);
    try {
      const outbox = first.webhookOutbox(outboxPlan([ENDPOINT], 60_000, 100));
      expect(await outbox.claim(10, 30_000)).toEqual([]);
      const input = createInput();
      await first.create(input);
      expect((await first.cancel(input.id, null, 60)).outcome).toBe('cancelled');
      // As if the process died right after the script: the queue holds it, the active set does not.
      // (The note is sent without waiting for it: let it land first, then remove it.)
      await new Promise((r) => setTimeout(r, 100));
      await removeActiveSet(prefix);
      expect(await outbox.claim(10, 30_000)).toEqual([]);
      const restarted = later.webhookOutbox(outboxPlan([ENDPOINT], 60_000, 100));
      const claimed = await restarted.claim(10, 30_000);
      expect(claimed).toHaveLength(1);
      expect(JSON.parse(claimed[0]!.body)).toMatchObject({ type: 'response.cancelled', data: { id: input.id } });
      expect(await restarted.settle(claimed[0]!, { done: true })).toBe(true);
      expect(await restarted.pending()).toBe(0);
    } finally {
      await first.close();
      await later.close();
    }
  });
});

/** Deletes the set of active queues under `prefix`, on whichever master holds it. */
async function removeActiveSet(prefix: string): Promise<void> {
  const { createClient } = await import('@redis/client');
  for (const url of cluster.urls) {
    const node = createClient({ url });
    await node.connect();
    try {
      await node.del(webhookActiveKey(prefix)).catch(() => undefined);
    } finally {
      await node.close();
    }
  }
}
