// Lua: a worker takes the record of a response it claimed from the queue: new fence and lease.

import { LUA_HELPERS } from './lua-helpers';

/** Takes a claimed response's record; see the header for KEYS, ARGV and return codes. */
export const START_QUEUED_SCRIPT = `
--[[
  Takes the record of a claimed response while it is still queued: the fence goes up by one (a
  write of an earlier claimant is refused from now on), the lease starts, the wait deadline is
  cleared. A queued response whose wait ran out is failed first (see sweepLease).

  KEYS[1] meta hash
  KEYS[2] snapshot string
  KEYS[3] event log list
  KEYS[4] item-id notes list (only its expiry is touched)

  ARGV[1] lease in ms
  ARGV[2] JSON of the error recorded when the lease has lapsed
  ARGV[3] webhook spec of the 'failed' event, or '' (see enqueueWebhook; KEYS[5..7] with it)

  Returns
   { 0, meta values, snapshot, tail entries }  taken (the new fence is in the meta)
   { -1 }  missing (deleted or expired)
   { -2 }  cancelled
   { -3 }  terminal otherwise
   { -4 }  no longer queued: started by an earlier claim
   { -5, meta values, snapshot, tail entries }  its wait had run out: this call ended it failed
]]
${LUA_HELPERS}
if redis.call('EXISTS', KEYS[1]) == 0 then
  return { -1 }
end
local swept = sweepLease(ARGV[2], ARGV[3])
local meta = redis.call('HMGET', KEYS[1], 'status', 'ttlSeconds')
if meta[1] == 'cancelled' then
  return { -2 }
end
if swept then
  return storedReply(-5)
end
if TERMINAL[meta[1]] then
  return { -3 }
end
if meta[1] ~= 'queued' then
  return { -4 }
end
local leaseMs = tonumber(ARGV[1])
redis.call('HINCRBY', KEYS[1], 'fence', 1)
redis.call('HSET', KEYS[1], 'leaseExpiresAt', int(nowMs() + leaseMs), 'queueDeadline', '0')
-- From now on it lives as a running response does: retention plus lease, renewed by each flush.
expireAll(tonumber(meta[2]) * 1000 + leaseMs)
return storedReply(0)
`;
