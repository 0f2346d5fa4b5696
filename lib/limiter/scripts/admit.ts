// Lua: one admission against every subject at once, all or nothing.

import { LIMITER_LUA_HELPERS } from './lua-helpers';

/** Admits or refuses; see the header for KEYS, ARGV and the reply. */
export const ADMIT_SCRIPT = `
--[[
  Admits response ARGV[1] against n subjects, or refuses without counting anything. Per
  subject, in order, the first failing check refuses: budget, rpm, tpm, parallel. Lapsed slots
  (score <= now) are purged before counting, refused or not.

  KEYS[1]          admission hash of the response
  KEYS[3i - 1]     window hash of subject i (i = 1 .. n)
  KEYS[3i]         running sorted set of subject i
  KEYS[3i + 1]     spend string of subject i

  ARGV[1]  response id (the slot member)
  ARGV[2]  lease in ms (slot expiry = now + lease)
  ARGV[3]  window length in ms
  ARGV[4]  admission hash lifetime in ms, counted from the end of the lease
  ARGV[5]  retry hint in ms for a parallel refusal
  ARGV[6 + 5(i - 1) .. 10 + 5(i - 1)]  rpm, tpm, maxParallel, maxBudget, budget period in ms of
           subject i; '' = no limit (a budget period is kept in the admission hash, for record)

  Returns { code, i, retryAfterMs, resetMs, limitRequests, remainingRequests, limitTokens,
  remainingTokens }: i is the refusing subject (0 when admitted); -1 stands for none. Remaining
  counts are after this admission and belong to the subject with the fewest left.
  Codes
   1  admitted
  -1  refused: rpm
  -2  refused: tpm
  -3  refused: parallel
  -4  refused: budget (retryAfterMs -1)
]]
${LIMITER_LUA_HELPERS}
local now = nowMs()
local leaseMs = tonumber(ARGV[2])
local windowStart, windowEnd = windowAt(now, tonumber(ARGV[3]))
local resetMs = windowEnd - now
local n = (#KEYS - 1) / 3

local code, refusedAt, retryAfter = 1, 0, -1
local subjects = {}
for i = 1, n do
  local s = {
    window = KEYS[3 * i - 1], running = KEYS[3 * i], spend = KEYS[3 * i + 1],
    rpm = tonumber(ARGV[5 * i + 1]), tpm = tonumber(ARGV[5 * i + 2]),
    maxParallel = tonumber(ARGV[5 * i + 3]), maxBudget = tonumber(ARGV[5 * i + 4]),
    budgetPeriod = tonumber(ARGV[5 * i + 5]),
  }
  s.requests, s.tokens = windowCounts(s.window, windowStart)
  -- Slots past their expiry belong to workers that died without releasing them.
  redis.call('ZREMRANGEBYSCORE', s.running, '-inf', int(now))
  subjects[i] = s
  if code == 1 then
    if s.maxBudget and (tonumber(redis.call('GET', s.spend)) or 0) >= s.maxBudget then
      code, refusedAt = -4, i
    elseif s.rpm and s.requests >= s.rpm then
      code, refusedAt, retryAfter = -1, i, resetMs
    elseif s.tpm and s.tokens >= s.tpm then
      code, refusedAt, retryAfter = -2, i, resetMs
    elseif s.maxParallel and redis.call('ZCARD', s.running) >= s.maxParallel then
      code, refusedAt, retryAfter = -3, i, tonumber(ARGV[5])
    end
  end
end

-- Only after every subject passed is anything counted: that is the all-or-nothing.
if code == 1 then
  for i = 1, n do
    local s = subjects[i]
    addToWindow(s.window, windowStart, windowEnd, now, 'requests', 1)
    s.requests = s.requests + 1
    if s.maxParallel then
      redis.call('ZADD', s.running, int(now + leaseMs), ARGV[1])
      expireWithLastLease(s.running, now)
    end
    if s.budgetPeriod then
      redis.call('HSET', KEYS[1], 'period:' .. s.spend, int(s.budgetPeriod))
    end
  end
  -- Rollback undoes the count only in the window it was made in.
  redis.call('HSET', KEYS[1], 'window', int(windowStart))
  redis.call('PEXPIRE', KEYS[1], int(leaseMs + tonumber(ARGV[4])))
end

local limitRequests, remainingRequests, limitTokens, remainingTokens = -1, -1, -1, -1
for i = 1, n do
  local s = subjects[i]
  if s.rpm then
    local left = math.max(0, s.rpm - s.requests)
    if remainingRequests == -1 or left < remainingRequests then
      limitRequests, remainingRequests = s.rpm, left
    end
  end
  if s.tpm then
    local left = math.max(0, s.tpm - s.tokens)
    if remainingTokens == -1 or left < remainingTokens then
      limitTokens, remainingTokens = s.tpm, left
    end
  end
end
return { code, refusedAt, retryAfter, resetMs, limitRequests, remainingRequests, limitTokens, remainingTokens }
`;
