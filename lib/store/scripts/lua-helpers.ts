// Lua fragments shared by the store scripts. Each script is one string: its own header, then
// these helpers, then its body, so every script stays self-contained on the server.

import { TERMINAL_STATUSES } from '../../response-vocabulary';
import { QUEUE_TIMEOUT_ERROR } from '../../queue/queue-errors';
import { STORED_META_FIELDS } from '../redis-replies';

/** Helpers that touch no key: integer formatting and the server clock. The limiter uses them too. */
export const LUA_BASE_HELPERS = `
-- Integers are formatted by hand: Lua numbers are doubles and tostring() may print 1e+12.
local function int(n)
  return string.format('%d', n)
end

-- The server clock, so every instance agrees on when a lease runs out.
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

/**
 * Helpers every store script may use. They read `KEYS[1..4]` as (meta hash, snapshot string,
 * log list, item-id notes list) of one response, which is the key order of every script.
 */
export const LUA_HELPERS = `
local QUEUE_TIMEOUT_JSON = [==[${JSON.stringify(QUEUE_TIMEOUT_ERROR)}]==]
local STORED_META = { ${STORED_META_FIELDS.map((field) => `'${field}'`).join(', ')} }
local TERMINAL = { ${TERMINAL_STATUSES.map((status) => `${status} = true`).join(', ')} }
${LUA_BASE_HELPERS}
-- Every key of the response gets the same expiry. Called after every write, because SET and
-- a first RPUSH create keys without one.
local function expireAll(ms)
  for i = 1, 4 do
    redis.call('PEXPIRE', KEYS[i], int(ms))
  end
end

-- Appends ARGV[first..last] to the list at key. Chunked: unpack() of thousands of values
-- overflows the Lua C stack.
local function pushRange(key, first, last)
  local i = first
  while i <= last do
    local upTo = math.min(i + 999, last)
    redis.call('RPUSH', key, unpack(ARGV, i, upTo))
    i = upTo + 1
  end
end

-- Appends ARGV[first..] to the log.
local function pushFrom(first)
  pushRange(KEYS[3], first, #ARGV)
end

-- ARGV[at] counts the item-id notes that follow it; they go to KEYS[4]. Returns the index of the
-- first argument after them.
local function pushItemIds(at)
  local k = tonumber(ARGV[at])
  pushRange(KEYS[4], at + 1, at + k)
  return at + k + 1
end

-- A mismatching owner is treated by the caller exactly like a missing record.
local function ownerMismatch(checkOwner, owner)
  return checkOwner == '1' and redis.call('HGET', KEYS[1], 'owner') ~= owner
end

-- Enqueues the webhook deliveries of the terminal transition this script is making, in the same
-- atomic step. Only with webhooks on: then KEYS[5] is the delivery queue (sorted set, member
-- '<endpoint index>:<event id>', score = epoch ms when due), KEYS[6] the event's delivery hash
-- (body, queuedAt, n = deliveries left, per endpoint a<i> attempts, t<i> claim token, e<i> URL
-- fingerprint) and KEYS[7] the dropped counter. spec is '' or JSON {event, body, hooks, ids, keep, max}.
local function enqueueWebhook(spec)
  if #KEYS < 7 or spec == nil or spec == '' then
    return
  end
  local w = cjson.decode(spec)
  local n = #w.hooks
  if n == 0 then
    return
  end
  if redis.call('ZCARD', KEYS[5]) + n > tonumber(w.max) then
    redis.call('INCRBY', KEYS[7], int(n))
    return
  end
  local now = nowMs()
  redis.call('HSET', KEYS[6], 'body', w.body, 'queuedAt', int(now), 'n', int(n))
  redis.call('PEXPIRE', KEYS[6], int(w.keep))
  for i, hook in ipairs(w.hooks) do
    redis.call('HSET', KEYS[6], 'e' .. int(hook), w.ids[i])
    redis.call('ZADD', KEYS[5], int(now), int(hook) .. ':' .. w.event)
  end
end

-- A non-terminal response whose lease has run out lost its worker: mark it failed, and start
-- its retention now. A queued one (created through the queue) is never swept for its lease (a
-- lapsed claim is claimed again); it fails only once its longest wait ran out. Returns true only
-- when this call made that transition (and then enqueues the webhook deliveries of webhookSpec,
-- the 'failed' event).
local function sweepLease(workerLostJson, webhookSpec)
  local meta = redis.call('HMGET', KEYS[1], 'status', 'leaseExpiresAt', 'ttlSeconds', 'viaQueue', 'queueDeadline')
  if TERMINAL[meta[1]] then
    return false
  end
  if meta[4] == '1' and meta[1] == 'queued' then
    local deadline = tonumber(meta[5]) or 0
    if deadline == 0 or deadline >= nowMs() then
      return false
    end
    redis.call('HSET', KEYS[1], 'status', 'failed', 'error', QUEUE_TIMEOUT_JSON, 'leaseExpiresAt', '0', 'queueDeadline', '0')
    expireAll(tonumber(meta[3]) * 1000)
    enqueueWebhook(webhookSpec)
    return true
  end
  if tonumber(meta[2]) < nowMs() then
    redis.call('HSET', KEYS[1], 'status', 'failed', 'error', workerLostJson, 'leaseExpiresAt', '0')
    expireAll(tonumber(meta[3]) * 1000)
    enqueueWebhook(webhookSpec)
    return true
  end
  return false
end

-- The meta fields a reader needs (STORED_META_FIELDS), as one HMGET.
local function storedMeta()
  return redis.call('HMGET', KEYS[1], unpack(STORED_META))
end

-- { code, meta values, snapshot, log entries after the snapshot, log length }: the length lets
-- the reader tell a log that Redis evicted or lost from a whole one. The log is read only when
-- the meta counts entries after the snapshot (a longer log fails the reader's length check anyway).
local function storedReply(code)
  local meta = storedMeta()
  local lastSeq, snapshotSeq = tonumber(meta[3]), tonumber(meta[8])
  local tail = {}
  if lastSeq and snapshotSeq and lastSeq > snapshotSeq then
    tail = redis.call('LRANGE', KEYS[3], int(snapshotSeq + 1), '-1')
  end
  return { code, meta, redis.call('GET', KEYS[2]), tail, redis.call('LLEN', KEYS[3]) }
end
`;
