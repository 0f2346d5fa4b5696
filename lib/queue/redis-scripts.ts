// Lua: the queue of one deployment group in Redis, one script per transition. Every key carries
// the group's hash tag (see queueKeys), so each script touches one Redis Cluster slot.

import { LUA_BASE_HELPERS } from '../store/scripts/lua-helpers';

/**
 * Queue helpers. An entry (JSON in the jobs hash) is `{p: principal, job, slot, limit, att:
 * lapsed claims so far, at: enqueued at (ms), st: 1 once started}`. A principal is in the ring
 * exactly while its list of waiting ids is not empty.
 */
export const LUA_QUEUE_HELPERS = `
-- Adds id to the waiting list of principal (at the head for a claim put back), and the principal
-- to the ring when its list was empty.
local function pushWaiting(ring, base, principal, id, head)
  local list = base .. 'p:' .. principal
  local n
  if head then
    n = redis.call('LPUSH', list, id)
  else
    n = redis.call('RPUSH', list, id)
  end
  if n == 1 then
    redis.call('RPUSH', ring, principal)
  end
end

-- Enqueues response id; the entry's enqueue time is the server clock.
local function enqueue(ring, jobs, base, id, principal, job, slot, limit, now)
  local entry = cjson.encode({ p = principal, job = job, slot = slot, limit = tonumber(limit), att = 0, at = now, st = 0 })
  redis.call('HSET', jobs, id, entry)
  pushWaiting(ring, base, principal, id, false)
end

-- Removes id from the running set and from its capacity slot.
local function leaveRunning(running, base, id, entry)
  redis.call('ZREM', running, id)
  if entry.slot ~= '' then
    redis.call('ZREM', base .. 's:' .. entry.slot, id)
  end
end
`;

const HEADER_KEYS = `
  KEYS[1] ring list (principals with waiting responses)
  KEYS[2] jobs hash (id -> entry JSON)
  KEYS[3] running sorted set (id -> lease expiry, ms)`;

/** The fourth key of the claim and settle scripts. */
const DEFERRED_KEY = `
  KEYS[4] deferred hash (principal -> ms until which claims skip it)`;

/** Enqueues a response whose record was written by an earlier step (Redis Cluster: another slot). */
export const ENQUEUE_SCRIPT = `
--[[
  Enqueues a response.
${HEADER_KEYS}

  ARGV[1] key base of the group (per-principal lists and slot sets are built from it)
  ARGV[2] response id
  ARGV[3] principal
  ARGV[4] job JSON
  ARGV[5] capacity slot, '' for none
  ARGV[6] slot limit, 0 for none
  ARGV[7] most responses in the queue (waiting or claimed), 0 for no bound

  Returns
   1  enqueued
   0  the queue is full; nothing written
]]
${LUA_BASE_HELPERS}
${LUA_QUEUE_HELPERS}
if tonumber(ARGV[7]) > 0 and redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[7]) then
  return 0
end
enqueue(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], nowMs())
return 1
`;

/** Claims the next waiting response; see the header. */
export const CLAIM_SCRIPT = `
--[[
  Puts back lapsed claims (at most 100 per call) of responses that never started, or reports them
  exhausted after ARGV[3] claims; drops lapsed claims of started ones. Then claims the head of the
  next principal in the ring that is not deferred and whose slot has room, looking at ARGV[4]
  principals at most, and rotates the ring past those looked at.
${HEADER_KEYS}${DEFERRED_KEY}

  ARGV[1] key base of the group
  ARGV[2] lease in ms
  ARGV[3] most claims per response
  ARGV[4] most principals looked at

  Returns
   { 1, id, job, attempts, enqueued at, exhausted ids, requeued ids }  claimed
   { 0, '', '', 0, 0, exhausted ids, requeued ids }                    nothing claimable
]]
${LUA_BASE_HELPERS}
${LUA_QUEUE_HELPERS}
local ring, jobs, running, base = KEYS[1], KEYS[2], KEYS[3], ARGV[1]
local leaseMs, maxAttempts = tonumber(ARGV[2]), tonumber(ARGV[3])
local now = nowMs()
local exhausted, requeued = {}, {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', running, '-inf', '(' .. int(now), 'LIMIT', 0, 100)) do
  local raw = redis.call('HGET', jobs, id)
  if raw then
    local e = cjson.decode(raw)
    leaveRunning(running, base, id, e)
    if e.st == 1 then
      redis.call('HDEL', jobs, id)
    else
      e.att = e.att + 1
      if e.att >= maxAttempts then
        redis.call('HDEL', jobs, id)
        exhausted[#exhausted + 1] = id
      else
        redis.call('HSET', jobs, id, cjson.encode(e))
        pushWaiting(ring, base, e.p, id, true)
        requeued[#requeued + 1] = id
      end
    end
  else
    redis.call('ZREM', running, id)
  end
end
local deferred = KEYS[4]
for _ = 1, math.min(redis.call('LLEN', ring), tonumber(ARGV[4])) do
  local p = redis.call('LPOP', ring)
  local list = base .. 'p:' .. p
  local id = redis.call('LINDEX', list, 0)
  local deferredUntil = tonumber(redis.call('HGET', deferred, p))
  if deferredUntil and deferredUntil > now then
    -- Waiting for what only time or another response's end brings (its key's slot).
    redis.call('RPUSH', ring, p)
    id = nil
  elseif deferredUntil then
    redis.call('HDEL', deferred, p)
  end
  if id then
    local raw = redis.call('HGET', jobs, id)
    if not raw then
      -- An id without an entry is dropped; the principal keeps its place while it has more.
      redis.call('LPOP', list)
      if redis.call('LLEN', list) > 0 then
        redis.call('RPUSH', ring, p)
      end
    else
      local e = cjson.decode(raw)
      local full = false
      if (e.limit or 0) > 0 then
        local slot = base .. 's:' .. e.slot
        redis.call('ZREMRANGEBYSCORE', slot, '-inf', '(' .. int(now))
        full = redis.call('ZCARD', slot) >= e.limit
      end
      if full then
        redis.call('RPUSH', ring, p)
      else
        redis.call('LPOP', list)
        if redis.call('LLEN', list) > 0 then
          redis.call('RPUSH', ring, p)
        end
        redis.call('ZADD', running, int(now + leaseMs), id)
        if e.slot ~= '' then
          redis.call('ZADD', base .. 's:' .. e.slot, int(now + leaseMs), id)
        end
        return { 1, id, e.job, e.att, int(e.at), exhausted, requeued }
      end
    end
  end
end
return { 0, '', '', 0, 0, exhausted, requeued }
`;

/** Renews a claim; see the header. */
export const RENEW_CLAIM_SCRIPT = `
--[[
  Extends a live claim's lease and its slot.
${HEADER_KEYS}

  ARGV[1] key base of the group
  ARGV[2] response id
  ARGV[3] lease in ms

  Returns
   1  renewed
   0  no live claim (lapsed, released, or never claimed)
]]
${LUA_BASE_HELPERS}
local now = nowMs()
local score = redis.call('ZSCORE', KEYS[3], ARGV[2])
local raw = redis.call('HGET', KEYS[2], ARGV[2])
if not score or not raw or tonumber(score) < now then
  return 0
end
local expiry = int(now + tonumber(ARGV[3]))
redis.call('ZADD', KEYS[3], expiry, ARGV[2])
local e = cjson.decode(raw)
if e.slot ~= '' then
  redis.call('ZADD', ARGV[1] .. 's:' .. e.slot, expiry, ARGV[2])
end
return 1
`;

/** Marks a claim started, releases it, or hands it back; see the header. */
export const SETTLE_CLAIM_SCRIPT = `
--[[
  One change to a claim, by ARGV[3]:
   'started'   its upstream answered: a lapse no longer puts it back
   'release'   it ended: slot freed, entry forgotten
   'hand_back' not started, its worker stops (or it waits): back to the head of its principal's
               list; with ARGV[4] > 0, claims skip the principal for ARGV[4] ms
${HEADER_KEYS}${DEFERRED_KEY}

  ARGV[1] key base of the group
  ARGV[2] response id
  ARGV[3] the change
  ARGV[4] hand_back: ms its principal is skipped, 0 for none

  Returns
   1  changed
   0  no such entry (or, for hand_back, not claimed)
]]
${LUA_BASE_HELPERS}
${LUA_QUEUE_HELPERS}
local raw = redis.call('HGET', KEYS[2], ARGV[2])
if not raw then
  redis.call('ZREM', KEYS[3], ARGV[2])
  return 0
end
local e = cjson.decode(raw)
if ARGV[3] == 'started' then
  e.st = 1
  redis.call('HSET', KEYS[2], ARGV[2], cjson.encode(e))
elseif ARGV[3] == 'release' then
  leaveRunning(KEYS[3], ARGV[1], ARGV[2], e)
  redis.call('HDEL', KEYS[2], ARGV[2])
else
  if not redis.call('ZSCORE', KEYS[3], ARGV[2]) then
    return 0
  end
  leaveRunning(KEYS[3], ARGV[1], ARGV[2], e)
  pushWaiting(KEYS[1], ARGV[1], e.p, ARGV[2], true)
  if tonumber(ARGV[4]) > 0 then
    redis.call('HSET', KEYS[4], e.p, int(nowMs() + tonumber(ARGV[4])))
  end
end
return 1
`;

/** Removes a waiting entry and returns its job; see the header. */
export const DROP_SCRIPT = `
--[[
  Removes response ARGV[1] from the queue while it waits (not claimed): cancelled or deleted
  while queued. Its id stays in its principal's list; the next claim that reaches it drops it.
${HEADER_KEYS}

  ARGV[1] response id

  Returns the job JSON of the entry removed, or false when it is claimed or not there.
]]
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw or redis.call('ZSCORE', KEYS[3], ARGV[1]) then
  return false
end
redis.call('HDEL', KEYS[2], ARGV[1])
return cjson.decode(raw).job
`;

/** Counts waiting responses; see the header. */
export const DEPTH_SCRIPT = `
--[[
  Responses of the group waiting for a claim: entries that are not claimed.
${HEADER_KEYS}

  Returns the count.
]]
return redis.call('HLEN', KEYS[2]) - redis.call('ZCARD', KEYS[3])
`;
