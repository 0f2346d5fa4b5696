// Lua: one admission against every subject at once, all or nothing.

import { LIMITER_LUA_HELPERS } from './lua-helpers';

/** Admits or refuses; see the header for KEYS, ARGV and the reply. */
export const ADMIT_SCRIPT = `
--[[
  Admits response ARGV[1] against n subjects, or refuses without counting anything. Per
  subject, in order, the first failing check refuses: budget, rpm, tpm, parallel; a full
  subject marked queue-when-full does not refuse but is admitted without its slot (awaiting).
  Lapsed slots (score <= now) are purged before counting, refused or not.

  KEYS[1]          admission hash of the response
  KEYS[3i - 1]     window hash of subject i (i = 1 .. n)
  KEYS[3i]         running sorted set of subject i
  KEYS[3i + 1]     spend string of subject i

  ARGV[1]  response id (the slot member)
  ARGV[2]  hold in ms (slot expiry = now + hold: the lease, plus the longest queue wait)
  ARGV[3]  window length in ms
  ARGV[4]  admission hash lifetime in ms, counted from the end of the lease
  ARGV[5]  retry hint in ms for a parallel refusal
  ARGV[6i .. 6i + 5]  rpm, tpm, maxParallel, maxBudget, budget period in ms, queue-when-full
           ('1' or '') of subject i; '' = no limit (a budget period is kept in the admission
           hash, for record)

  Returns { code, i, retryAfterMs, resetMs, limitRequests, remainingRequests, limitTokens,
  remainingTokens, awaiting }: i is the refusing subject (0 when admitted); -1 stands for none.
  Remaining counts are after this admission and belong to the subject with the fewest left.
  awaiting lists the subjects (i) admitted without their slot.
  Codes
   1  admitted
  -1  refused: rpm
  -2  refused: tpm
  -3  refused: parallel
  -4  refused: budget (retryAfterMs -1)
]]
${LIMITER_LUA_HELPERS}
local now = nowMs()
local holdMs = tonumber(ARGV[2])
local windowStart, windowEnd = windowAt(now, tonumber(ARGV[3]))
local resetMs = windowEnd - now
local n = (#KEYS - 1) / 3

local code, refusedAt, retryAfter = 1, 0, -1
local subjects, awaiting = {}, {}
for i = 1, n do
  local s = {
    window = KEYS[3 * i - 1], running = KEYS[3 * i], spend = KEYS[3 * i + 1],
    rpm = tonumber(ARGV[6 * i]), tpm = tonumber(ARGV[6 * i + 1]),
    maxParallel = tonumber(ARGV[6 * i + 2]), maxBudget = tonumber(ARGV[6 * i + 3]),
    budgetPeriod = tonumber(ARGV[6 * i + 4]), queues = ARGV[6 * i + 5] == '1',
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
      if s.queues then
        s.awaits = true
        awaiting[#awaiting + 1] = i
      else
        code, refusedAt, retryAfter = -3, i, tonumber(ARGV[5])
      end
    end
  end
end

-- Only after every subject passed is anything counted: that is the all-or-nothing.
if code == 1 then
  for i = 1, n do
    local s = subjects[i]
    addToWindow(s.window, windowStart, windowEnd, now, 'requests', 1)
    s.requests = s.requests + 1
    if s.maxParallel and not s.awaits then
      redis.call('ZADD', s.running, int(now + holdMs), ARGV[1])
      expireWithLastLease(s.running, now)
    end
    if s.budgetPeriod then
      redis.call('HSET', KEYS[1], 'period:' .. s.spend, int(s.budgetPeriod))
    end
  end
  -- Rollback undoes the count only in the window it was made in.
  redis.call('HSET', KEYS[1], 'window', int(windowStart))
  redis.call('PEXPIRE', KEYS[1], int(holdMs + tonumber(ARGV[4])))
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
if code ~= 1 then
  awaiting = {}
end
return { code, refusedAt, retryAfter, resetMs, limitRequests, remainingRequests, limitTokens, remainingTokens, awaiting }
`;
