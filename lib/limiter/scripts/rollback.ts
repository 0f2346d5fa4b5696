// Lua: undo one admission (its request counts and its slots), once.

import { LIMITER_LUA_HELPERS } from './lua-helpers';

/** Undoes an admission; see the header for KEYS, ARGV and return codes. */
export const ROLLBACK_SCRIPT = `
--[[
  Undoes the admission of response ARGV[1]. Slots are removed in any case (ZREM is
  idempotent); the request counts only while the admission hash still holds its window, and
  only in a window that is still the current one. Afterwards a release finds nothing to free.

  KEYS[1]       admission hash of the response
  KEYS[2i]      window hash of subject i (i = 1 .. n)
  KEYS[2i + 1]  running sorted set of subject i

  ARGV[1]  response id
  ARGV[2]  window length in ms

  Returns
   1  undone
   0  nothing to undo (never admitted, already rolled back, or forgotten)
]]
${LIMITER_LUA_HELPERS}
local n = (#KEYS - 1) / 2
for i = 1, n do
  redis.call('ZREM', KEYS[2 * i + 1], ARGV[1])
end
local admittedIn = tonumber(redis.call('HGET', KEYS[1], 'window'))
if not admittedIn then
  return 0
end
local windowStart = windowAt(nowMs(), tonumber(ARGV[2]))
if admittedIn == windowStart then
  for i = 1, n do
    local requests = windowCounts(KEYS[2 * i], windowStart)
    if requests > 0 then
      redis.call('HINCRBY', KEYS[2 * i], 'requests', '-1')
    end
  end
end
redis.call('HDEL', KEYS[1], 'window')
redis.call('HSET', KEYS[1], 'released', '1')
return 1
`;
