// Lua: delete every key of a response, leave its tombstone and publish the delete control message.

import { LUA_HELPERS } from './lua-helpers';

/** Deletes a response; see the header for KEYS, ARGV and return codes. */
export const DELETE_SCRIPT = `
--[[
  Deletes every key of a response and publishes a control message, so a worker still running
  it stops. A tombstone stays for as long as the record would have lived, so that worker, should
  it miss the message, reads the missing record as deleted, not as lost (see the restore script). A response that was not terminal is ended by this delete: the reply says so, with
  the record as it stood, so that exactly one caller reports that end.

  KEYS[1] meta hash
  KEYS[2] snapshot string
  KEYS[3] event log list
  KEYS[4] item-id notes list
  KEYS[5] tombstone string

  ARGV[1] '1' to check the owner, '0' for an administrator
  ARGV[2] owner hash (ignored unless ARGV[1] is '1')
  ARGV[3] control channel
  ARGV[4] control message JSON
  ARGV[5] ms of the tombstone an administrator's delete leaves for an id with no record, 0 for none

  Returns
   { 0 }                                    missing (a tombstone left when ARGV[5] asks), or owned by someone else
   { 1 }                                    deleted; it was terminal already
   { 2, meta values, snapshot, tail entries } deleted while not terminal: this call ended it
]]
${LUA_HELPERS}
if redis.call('EXISTS', KEYS[1]) == 0 then
  -- A create whose outcome its caller does not know is abandoned this way: should it arrive
  -- later, the tombstone refuses it.
  if ARGV[1] == '0' and tonumber(ARGV[5] or '0') > 0 then
    redis.call('SET', KEYS[5], 'abandoned', 'PX', int(ARGV[5]))
  end
  return { 0 }
end
if ownerMismatch(ARGV[1], ARGV[2]) then
  return { 0 }
end
local reply = { 1 }
if not TERMINAL[redis.call('HGET', KEYS[1], 'status')] then
  reply = storedReply(2)
end
local lifeMs = redis.call('PTTL', KEYS[1])
if lifeMs <= 0 then
  lifeMs = (tonumber(redis.call('HGET', KEYS[1], 'ttlSeconds')) or 0) * 1000
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
redis.call('SET', KEYS[5], '1', 'PX', int(math.max(lifeMs, 1000)))
redis.call('PUBLISH', ARGV[3], ARGV[4])
return reply
`;
