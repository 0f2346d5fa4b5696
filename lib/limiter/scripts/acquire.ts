// Lua: take (or keep) one admission's parallel slots when its queued response is claimed.

import { LIMITER_LUA_HELPERS } from './lua-helpers';

/** Acquires slots; see the header for KEYS, ARGV and return codes. */
export const ACQUIRE_SCRIPT = `
--[[
  Gives response ARGV[1] a slot in every subject, all or none, expiring now + ARGV[2]: a slot it
  still holds is renewed, a missing one is taken while the subject has room. Lapsed slots
  (score <= now) are purged first. Nothing is taken once the admission was released or rolled
  back (its hash's 'released' field): a queued response that ended must not hold a slot again.

  KEYS[1]      admission hash of the response
  KEYS[2 ..]   running sorted sets of the subjects

  ARGV[1]        response id (the slot member)
  ARGV[2]        lease in ms
  ARGV[3]        admission hash lifetime in ms, counted from the end of the lease
  ARGV[4 ..]     maxParallel of each subject, in KEYS order

  Returns
   1  acquired (taken or renewed everywhere)
   0  full: some subject has no room; nothing changed
  -1  released before; nothing taken
]]
${LIMITER_LUA_HELPERS}
if redis.call('HGET', KEYS[1], 'released') then
  return -1
end
local now = nowMs()
local leaseMs = tonumber(ARGV[2])
for i = 2, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', int(now))
  if not redis.call('ZSCORE', KEYS[i], ARGV[1]) and redis.call('ZCARD', KEYS[i]) >= tonumber(ARGV[i + 2]) then
    return 0
  end
end
for i = 2, #KEYS do
  redis.call('ZADD', KEYS[i], int(now + leaseMs), ARGV[1])
  expireWithLastLease(KEYS[i], now)
end
if redis.call('PTTL', KEYS[1]) < leaseMs + tonumber(ARGV[3]) then
  redis.call('PEXPIRE', KEYS[1], int(leaseMs + tonumber(ARGV[3])))
end
return 1
`;
