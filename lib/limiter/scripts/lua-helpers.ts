// Lua fragments shared by the limiter scripts: the store's key-free helpers (int, nowMs) plus
// window and slot bookkeeping. Each script inlines them, so it stays self-contained on the server.

import { LUA_BASE_HELPERS } from '../../store/scripts/lua-helpers';

/** Helpers every limiter script may use. They take key names as arguments. */
export const LIMITER_LUA_HELPERS = `
${LUA_BASE_HELPERS}
-- The clock-aligned window holding now: start and end, epoch ms.
local function windowAt(now, windowMs)
  local start = now - now % windowMs
  return start, start + windowMs
end

-- Requests and tokens counted in the window starting at windowStart. A hash left from an
-- earlier window counts as empty (its key may outlive the window by the expiry slack).
local function windowCounts(key, windowStart)
  local w = redis.call('HMGET', key, 'start', 'requests', 'tokens')
  if tonumber(w[1]) ~= windowStart then
    return 0, 0
  end
  return tonumber(w[2]) or 0, tonumber(w[3]) or 0
end

-- Adds n to one count of the current window, starting the window afresh when the hash
-- belongs to an earlier one. The hash is worthless once its window ends; the second of slack
-- only keeps a reply in flight from finding it gone.
local function addToWindow(key, windowStart, windowEnd, now, field, n)
  if tonumber(redis.call('HGET', key, 'start')) ~= windowStart then
    redis.call('HSET', key, 'start', int(windowStart), 'requests', '0', 'tokens', '0')
  end
  redis.call('HINCRBY', key, field, int(n))
  redis.call('PEXPIRE', key, int(windowEnd - now + 1000))
end

-- A running set lives as long as its longest lease, so a set of dead workers' slots vanishes.
local function expireWithLastLease(key, now)
  local last = redis.call('ZRANGE', key, '-1', '-1', 'WITHSCORES')
  if last[2] then
    redis.call('PEXPIRE', key, int(math.max(1, tonumber(last[2]) - now)))
  end
end
`;
