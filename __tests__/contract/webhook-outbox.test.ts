// The webhook outbox contract on MemoryStore and on the Redis store (a single node).

import { MemoryStore } from '../../lib/store/memory-store';
import { createRedisStore } from '../../lib/store/redis-store';
import { randomPrefix, testRedisUrl } from '../helpers/redis';
import { describeOutboxContract } from './webhook-outbox-contract';

describeOutboxContract('MemoryStore', () => new MemoryStore());
describeOutboxContract('Redis store', () => createRedisStore({ url: testRedisUrl(), keyPrefix: randomPrefix() }));
