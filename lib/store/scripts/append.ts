// Lua: one worker flush (events, optional snapshot, optional status) as one atomic step.

import { LUA_HELPERS } from './lua-helpers';

/** Appends one flush; see the header for KEYS, ARGV and return codes. */
export const APPEND_SCRIPT = `
--[[
  Appends one flush of a worker. Checks run in this order, and the first that matches decides:
  missing; already applied (a retried flush with this fence, whose reply was lost, even if it
  made the response terminal); cancelled; other terminal status; fence; sequence.

  KEYS[1] meta hash
  KEYS[2] snapshot string
  KEYS[3] event log list
  KEYS[4] item-id notes list

  ARGV[1]  fencing token of the worker
  ARGV[2]  sequence number of the first event
  ARGV[3]  '1' when ARGV[4] holds a new status, else '0'
  ARGV[4]  new status
  ARGV[5]  '1' when ARGV[6..7] hold a new snapshot, else '0'
  ARGV[6]  snapshot JSON
  ARGV[7]  sequence number of the last event the snapshot covers
  ARGV[8]  lease in ms
  ARGV[9]  retention in seconds
  ARGV[10] webhook spec of the event of ARGV[4] when it is terminal, or '' (see enqueueWebhook;
           KEYS[5..7] with it)
  ARGV[11] k, the number of item-id notes of these events
  ARGV[12..11+k] those notes
  ARGV[12+k..] encoded events, consecutive from ARGV[2]; none for a heartbeat

  Returns
   0  written
   1  already written by an earlier attempt of this flush; nothing written
  -1  missing (deleted or expired)
  -2  cancelled
  -3  terminal for another reason
  -4  the fencing token does not match
  -5  the first sequence number does not follow the log
]]
${LUA_HELPERS}
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
local meta = redis.call('HMGET', KEYS[1], 'status', 'fence', 'lastSeq')
local n = #ARGV - 11 - tonumber(ARGV[11])
local lastSeq = tonumber(meta[3])
local firstSeq = tonumber(ARGV[2])
if n > 0 and tonumber(ARGV[1]) == tonumber(meta[2]) and firstSeq + n - 1 <= lastSeq then
  return 1
end
if meta[1] == 'cancelled' then
  return -2
end
if TERMINAL[meta[1]] then
  return -3
end
if tonumber(ARGV[1]) ~= tonumber(meta[2]) then
  return -4
end
if n > 0 then
  if firstSeq ~= lastSeq + 1 then
    return -5
  end
  pushFrom(pushItemIds(11))
  redis.call('HSET', KEYS[1], 'lastSeq', int(lastSeq + n))
end
if ARGV[5] == '1' then
  redis.call('SET', KEYS[2], ARGV[6])
  redis.call('HSET', KEYS[1], 'snapshotSeq', ARGV[7])
end
local ttlMs = tonumber(ARGV[9]) * 1000
redis.call('HSET', KEYS[1], 'ttlSeconds', ARGV[9])
if ARGV[3] == '1' then
  redis.call('HSET', KEYS[1], 'status', ARGV[4])
end
if ARGV[3] == '1' and TERMINAL[ARGV[4]] then
  -- Retention counts from the terminal state.
  redis.call('HSET', KEYS[1], 'leaseExpiresAt', '0')
  expireAll(ttlMs)
  enqueueWebhook(ARGV[10])
else
  local leaseMs = tonumber(ARGV[8])
  redis.call('HSET', KEYS[1], 'leaseExpiresAt', int(nowMs() + leaseMs))
  expireAll(ttlMs + leaseMs)
end
return 0
`;
