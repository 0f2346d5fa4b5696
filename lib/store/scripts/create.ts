// Lua: create a response record (meta hash, snapshot, initial log) unless the id exists, and
// enqueue it in the same step when its queue's keys are given.

import { LUA_QUEUE_HELPERS } from '../../queue/redis-scripts';
import { LUA_HELPERS } from './lua-helpers';

/** Creates a record; see the header for KEYS, ARGV and return codes. */
export const CREATE_SCRIPT = `
--[[
  Creates a response record, and enqueues it when KEYS[6..7] are given (one Redis node; on a
  Redis Cluster the queue is in another slot and is written by the enqueue script right after).

  KEYS[1] meta hash
  KEYS[2] snapshot string
  KEYS[3] event log list
  KEYS[4] item-id notes list
  KEYS[5] tombstone string (one an abandoned create left, 'abandoned', refuses the id)
  KEYS[6] (optional) ring list of the queue
  KEYS[7] (optional) jobs hash of the queue

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
  ARGV[16] k, the number of item-id notes of the initial events
  ARGV[17..16+k] those notes
  ARGV[17+k..] the n initial encoded events, from sequence 0

  Returns
   1  created (fence 1)
   0  the id exists, or was abandoned; nothing written
   2  the queue (KEYS[7]) is full; nothing written
]]
${LUA_HELPERS}
${LUA_QUEUE_HELPERS}
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('GET', KEYS[5]) == 'abandoned' then
  return 0
end
local leaseMs = tonumber(ARGV[4])
if #KEYS == 7 and tonumber(ARGV[15]) > 0 and redis.call('HLEN', KEYS[7]) >= tonumber(ARGV[15]) then
  return 2
end
local n = #ARGV - 16 - tonumber(ARGV[16])
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
pushFrom(pushItemIds(16))
expireAll(tonumber(ARGV[5]) * 1000 + leaseMs + extra)
if #KEYS == 7 then
  enqueue(KEYS[6], KEYS[7], ARGV[9], ARGV[10], ARGV[11], ARGV[12], ARGV[13], ARGV[14], now)
end
return 1
`;
