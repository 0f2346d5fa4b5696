// Lua: extend the lease of one response's slots, if it still holds them.

import { LIMITER_LUA_HELPERS } from './lua-helpers';

/** Renews slots; see the header for KEYS, ARGV and the reply. */
export const RENEW_SCRIPT = `
--[[
  Moves the expiry of response ARGV[1]'s slots to now + ARGV[2]. A slot that lapsed or was
  released stays gone: its capacity may already belong to another response.

  KEYS[1]      admission hash of the response
  KEYS[2 ..]   running sorted sets of the subjects

  ARGV[1]  response id
  ARGV[2]  lease in ms
  ARGV[3]  admission hash lifetime in ms, counted from the end of the lease

  Returns the number of slots renewed.
]]
${LIMITER_LUA_HELPERS}
local now = nowMs()
local leaseMs = tonumber(ARGV[2])
local renewed = 0
for i = 2, #KEYS do
  local expiry = tonumber(redis.call('ZSCORE', KEYS[i], ARGV[1]))
  if expiry and expiry > now then
    redis.call('ZADD', KEYS[i], 'XX', int(now + leaseMs), ARGV[1])
    expireWithLastLease(KEYS[i], now)
    renewed = renewed + 1
  end
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], int(leaseMs + tonumber(ARGV[3])))
end
return renewed
`;
