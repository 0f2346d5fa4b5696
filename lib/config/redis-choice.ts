// How the store and the limiter reach the configured Redis: a URL, connection fields, or the
// startup nodes of a Redis Cluster (turned into node-redis cluster options).

import type { RedisClusterOptions } from '@redis/client';
import type { RedisClusterNode, RedisConnectionOptions } from './options';

/** What `createRedisStore` and `createRedisLimiter` take for one configured Redis. */
export type RedisChoice = { url: string } | { connection: RedisConnectionOptions } | { cluster: RedisClusterOptions };

function nodeUrl(node: RedisClusterNode, tls: boolean): string {
  if (typeof node === 'string') return node;
  return `${tls ? 'rediss' : 'redis'}://${node.host}:${node.port ?? 6379}`;
}

/** The connection choice for `redis` (the `redis` option, or REDIS_URL). */
export function redisChoice(redis: string | RedisConnectionOptions): RedisChoice {
  if (typeof redis === 'string') return { url: redis };
  if (redis.cluster === undefined) return { connection: redis };
  const tls = redis.tls === true;
  const defaults: NonNullable<RedisClusterOptions['defaults']> = {};
  if (redis.username !== undefined) defaults.username = redis.username;
  if (redis.password !== undefined) defaults.password = redis.password;
  if (tls) defaults.socket = { tls: true };
  return { cluster: { rootNodes: redis.cluster.map((node) => ({ url: nodeUrl(node, tls) })), defaults } };
}

/** A cluster's nodes are given by `cluster` alone: `url`, `host`, `port` and `db` next to it are errors. */
export function clusterProblems(redis: unknown, path: string): string[] {
  if (!redis || typeof redis !== 'object') return [];
  const r = redis as RedisConnectionOptions;
  if (r.cluster === undefined) return [];
  const extra = (['url', 'host', 'port', 'db'] as const).filter((k) => r[k] !== undefined);
  if (extra.length === 0) return [];
  return [
    `${path} has cluster and ${extra.join(', ')}: a Redis Cluster is reached through its startup nodes only (database 0). ` +
      `Remove ${extra.join(', ')}, or remove cluster to use a single Redis.`,
  ];
}
