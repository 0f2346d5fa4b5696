// Lua: create a response record (meta hash, snapshot, initial log) unless the id exists, and
// enqueue it in the same step when its queue's keys are given.

import { LUA_QUEUE_HELPERS } from '../../queue/redis-scripts';
import { queueLifeMs } from '../../queue/memory-queue';
import type { CreateRecordInput } from '../../types';
import { withItemIds } from '../log-pages';
import { turnEntry } from '../side-records';
import { tombstoneKey, turnKey } from '../keys';
import { LUA_HELPERS } from './lua-helpers';

/** Creates a record; see the header for KEYS, ARGV and return codes. */
export const CREATE_SCRIPT = `
--[[
  Creates a response record with its turn record (when ARGV[16] is not ''), and enqueues it when
  KEYS[7..8] are given (one Redis node; on a Redis Cluster the queue is in another slot and is
  written by the enqueue script right after).

  KEYS[1] meta hash
  KEYS[2] snapshot string
  KEYS[3] event log list
  KEYS[4] item-id notes list
  KEYS[5] tombstone string (one an abandoned create left, 'abandoned', refuses the id)
  KEYS[6] turn record string (the response's hash tag: the same slot)
  KEYS[7] (optional) ring list of the queue
  KEYS[8] (optional) jobs hash of the queue

  ARGV[1]  owner hash
  ARGV[2]  snapshot JSON (covers events 0 .. n-1)
  ARGV[3]  stream flag, '1' or '0'
  ARGV[4]  lease in ms
  ARGV[5]  retention in seconds
  ARGV[6]  '1' when created through the queue, else '0'
  ARGV[7]  longest wait in the queue in ms, 0 for none
  ARGV[8]  extra life of a queued record in ms (its longest wait, or a day)
  ARGV[9]  key base of the queue
  ARGV[10] response id
  ARGV[11] principal
  ARGV[12] job JSON
  ARGV[13] capacity slot, '' for none
  ARGV[14] slot limit, 0 for none
  ARGV[15] most responses in the queue (waiting or claimed), 0 for no bound
  ARGV[16] turn record JSON, '' for none
  ARGV[17] the turn record's time to live in ms
  ARGV[18] k, the number of item-id notes of the initial events
  ARGV[19..18+k] those notes
  ARGV[19+k..] the n initial encoded events, from sequence 0

  Returns
   1  created (fence 1)
   0  the id exists, or was abandoned; nothing written
   2  the queue (KEYS[8]) is full; nothing written
]]
${LUA_HELPERS}
${LUA_QUEUE_HELPERS}
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('GET', KEYS[5]) == 'abandoned' then
  return 0
end
local leaseMs = tonumber(ARGV[4])
if #KEYS == 8 and tonumber(ARGV[15]) > 0 and redis.call('HLEN', KEYS[8]) >= tonumber(ARGV[15]) then
  return 2
end
local n = #ARGV - 18 - tonumber(ARGV[18])
local now = nowMs()
local deadline = 0
local extra = 0
if ARGV[6] == '1' then
  extra = tonumber(ARGV[8])
  if tonumber(ARGV[7]) > 0 then
    deadline = now + tonumber(ARGV[7])
  end
end
redis.call('HSET', KEYS[1],
  'status', 'queued', 'owner', ARGV[1], 'lastSeq', int(n - 1), 'fence', '1',
  'leaseExpiresAt', int(now + leaseMs), 'stream', ARGV[3], 'error', '',
  'snapshotSeq', int(n - 1), 'ttlSeconds', ARGV[5], 'viaQueue', ARGV[6], 'queueDeadline', int(deadline))
redis.call('SET', KEYS[2], ARGV[2])
-- Without a meta hash a stray log cannot belong to a live record; start it afresh.
redis.call('DEL', KEYS[3], KEYS[4])
pushFrom(pushItemIds(18))
expireAll(tonumber(ARGV[5]) * 1000 + leaseMs + extra)
if ARGV[16] ~= '' then
  redis.call('SET', KEYS[6], ARGV[16], 'PX', ARGV[17])
end
if #KEYS == 8 then
  enqueue(KEYS[7], KEYS[8], ARGV[9], ARGV[10], ARGV[11], ARGV[12], ARGV[13], ARGV[14], now)
end
return 1
`;

/**
 * The create script's keys after the response's own four (tombstone, turn, then `queueKeys`: the
 * queue's ring and jobs, or none) and its ARGV, for `input`; `queueArgs` are ARGV[9..15] of the
 * queue (key base, the enqueue script's arguments, most responses), or `undefined` without one.
 */
export function createCall(prefix: string, input: CreateRecordInput, queueArgs: string[] | undefined, queueKeys: string[]): { keys: string[]; args: string[] } {
  const q = input.queue;
  const turn = input.turn ? turnEntry(prefix, input.id, input.turn.record, input.turn.ttlSeconds) : undefined;
  const args = [
    input.owner,
    input.snapshot,
    input.stream ? '1' : '0',
    String(input.leaseMs),
    String(input.ttlSeconds),
    q ? '1' : '0',
    String(q ? Math.max(0, Math.trunc(q.maxWaitMs)) : 0),
    String(q ? queueLifeMs(q.maxWaitMs) : 0),
    ...(queueArgs ?? ['', '', '', '', '', '0', '0']),
    turn?.value ?? '',
    String(turn?.ttlMs ?? 0),
    ...withItemIds(input.events, 0),
  ];
  // The turn key is given without a turn too: the key count tells whether the queue's keys follow.
  return { keys: [tombstoneKey(prefix, input.id), turn?.key ?? turnKey(prefix, input.id), ...queueKeys], args };
}
