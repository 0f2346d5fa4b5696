// Lua: claim and settle one webhook delivery of the queue that terminal transitions fill.

import { LUA_BASE_HELPERS } from './lua-helpers';

/** Claims one delivery under a lease; see the header for KEYS, ARGV and return codes. */
export const WEBHOOK_CLAIM_SCRIPT = `
--[[
  Claims one due delivery: pushes its due time to the end of the lease (so no other instance
  claims it meanwhile), records the claim token and counts the attempt.

  KEYS[1] delivery queue (sorted set)
  KEYS[2] delivery hash of the event

  ARGV[1] queue member, '<endpoint index>:<event id>'
  ARGV[2] endpoint index
  ARGV[3] lease in ms
  ARGV[4] claim token

  Returns
   { 0 }                              not due (claimed by someone else, or settled)
   { -1 }                             its event record expired; removed from the queue
   { 1, body, queuedAt, attempts, endpoint fingerprint }    claimed
]]
${LUA_BASE_HELPERS}
local due = redis.call('ZSCORE', KEYS[1], ARGV[1])
local now = nowMs()
if not due or tonumber(due) > now then
  return { 0 }
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return { -1 }
end
redis.call('ZADD', KEYS[1], int(now + tonumber(ARGV[3])), ARGV[1])
redis.call('HSET', KEYS[2], 't' .. ARGV[2], ARGV[4])
local attempts = redis.call('HINCRBY', KEYS[2], 'a' .. ARGV[2], 1)
local record = redis.call('HMGET', KEYS[2], 'body', 'queuedAt', 'e' .. ARGV[2])
return { 1, record[1], record[2], attempts, record[3] or '' }
`;

/** Settles one claimed delivery; see the header for KEYS, ARGV and return codes. */
export const WEBHOOK_SETTLE_SCRIPT = `
--[[
  Settles a claimed delivery: done (delivered, or given up) removes it, and the event record
  once no endpoint is left; retry makes it due again after a delay. Only the holder of the
  current claim may settle it.

  KEYS[1] delivery queue (sorted set)
  KEYS[2] delivery hash of the event

  ARGV[1] queue member
  ARGV[2] endpoint index
  ARGV[3] claim token
  ARGV[4] 'done' or 'retry'
  ARGV[5] retry delay in ms (for 'retry')

  Returns
   1  settled
   0  not this claim (its lease lapsed and another instance claimed it, or it was settled)
]]
${LUA_BASE_HELPERS}
if redis.call('HGET', KEYS[2], 't' .. ARGV[2]) ~= ARGV[3] then
  return 0
end
if ARGV[4] == 'retry' then
  redis.call('ZADD', KEYS[1], int(nowMs() + tonumber(ARGV[5])), ARGV[1])
  redis.call('HSET', KEYS[2], 't' .. ARGV[2], '')
  return 1
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], 't' .. ARGV[2], 'a' .. ARGV[2], 'e' .. ARGV[2])
if redis.call('HINCRBY', KEYS[2], 'n', -1) <= 0 then
  redis.call('DEL', KEYS[2])
end
return 1
`;
