// Lua: cancel a non-terminal response and publish the cancel control message.

import { LUA_HELPERS } from './lua-helpers';

/** Cancels a response; see the header for KEYS, ARGV and return codes. */
export const CANCEL_SCRIPT = `
--[[
  Cancels a non-terminal response: status cancelled, lease cleared, retention starts, and a
  control message is published so the instance running the worker aborts it. Snapshot and log
  are kept: the partial output stays readable.

  KEYS[1] meta hash
  KEYS[2] snapshot string
  KEYS[3] event log list
  KEYS[4] item-id notes list (only its expiry is touched)

  ARGV[1] '1' to check the owner, '0' for an administrator
  ARGV[2] owner hash (ignored unless ARGV[1] is '1')
  ARGV[3] retention in seconds
  ARGV[4] control channel
  ARGV[5] control message JSON
  ARGV[6] webhook spec of the 'cancelled' event, or '' (see enqueueWebhook; KEYS[5..7] with it)

  Returns
   { -1 }                                   missing, or owned by someone else
   {  0, meta values, snapshot, tail entries } cancelled now
   {  1, meta values, snapshot, tail entries } was already cancelled; nothing changed
   {  2, meta values, snapshot, tail entries } already terminal otherwise; nothing changed
]]
${LUA_HELPERS}
if redis.call('EXISTS', KEYS[1]) == 0 or ownerMismatch(ARGV[1], ARGV[2]) then
  return { -1 }
end
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'cancelled' then
  return storedReply(1)
end
if TERMINAL[status] then
  return storedReply(2)
end
redis.call('HSET', KEYS[1], 'status', 'cancelled', 'leaseExpiresAt', '0', 'ttlSeconds', ARGV[3])
expireAll(tonumber(ARGV[3]) * 1000)
enqueueWebhook(ARGV[6])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return storedReply(0)
`;
