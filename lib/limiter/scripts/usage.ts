// Lua: read the counts of one subject at the server's clock.

import { LIMITER_LUA_HELPERS } from './lua-helpers';

/** Reads usage; see the header for KEYS, ARGV and the reply. */
export const USAGE_SCRIPT = `
--[[
  Reads one subject's counts; writes nothing.

  KEYS[1]  window hash of the subject
  KEYS[2]  running sorted set of the subject
  KEYS[3]  spend string of the subject

  ARGV[1]  window length in ms

  Returns { requests this window, tokens this window, slots not lapsed, spend as a string }
]]
${LIMITER_LUA_HELPERS}
local now = nowMs()
local windowStart = windowAt(now, tonumber(ARGV[1]))
local requests, tokens = windowCounts(KEYS[1], windowStart)
local running = redis.call('ZCOUNT', KEYS[2], '(' .. int(now), '+inf')
-- A string: Lua would truncate a float reply to an integer.
local spend = redis.call('GET', KEYS[3]) or '0'
return { requests, tokens, running, spend }
`;
