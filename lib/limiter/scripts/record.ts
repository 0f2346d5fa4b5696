// Lua: record the tokens and spend of one finished response, exactly once.

import { LIMITER_LUA_HELPERS } from './lua-helpers';

/** Records usage; see the header for KEYS, ARGV and return codes. */
export const RECORD_SCRIPT = `
--[[
  Adds ARGV[1] tokens to the current window and ARGV[2] USD to the spend of every subject.
  The admission hash's 'recorded' field makes this happen once per response. A subject admitted
  with a budget period (the admission hash's 'period:<spend key>' field) has its spend expire at
  the end of the period it was first spent in, so the budget starts again from 0 then.

  KEYS[1]       admission hash of the response
  KEYS[2i]      window hash of subject i (i = 1 .. n)
  KEYS[2i + 1]  spend string of subject i

  ARGV[1]  tokens, an integer
  ARGV[2]  spend in USD, a number as JavaScript prints it (INCRBYFLOAT reads 1e-7 too)
  ARGV[3]  window length in ms
  ARGV[4]  admission hash lifetime in ms from now

  Returns
   1  recorded now
   0  recorded before; nothing changed
]]
${LIMITER_LUA_HELPERS}
if redis.call('HSETNX', KEYS[1], 'recorded', '1') == 0 then
  return 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
local now = nowMs()
local windowStart, windowEnd = windowAt(now, tonumber(ARGV[3]))
local tokens = tonumber(ARGV[1])
local spend = tonumber(ARGV[2])
for i = 1, (#KEYS - 1) / 2 do
  if tokens > 0 then
    addToWindow(KEYS[2 * i], windowStart, windowEnd, now, 'tokens', tokens)
  end
  -- A budget total without a period never expires.
  if spend > 0 then
    local key = KEYS[2 * i + 1]
    redis.call('INCRBYFLOAT', key, ARGV[2])
    local period = tonumber(redis.call('HGET', KEYS[1], 'period:' .. key))
    if period and redis.call('PTTL', key) < 0 then
      local _, periodEnd = windowAt(now, period)
      redis.call('PEXPIREAT', key, int(periodEnd))
    end
  end
end
return 1
`;
