// Lua: end a response that is still queued as failed (its claims were exhausted).

import { LUA_HELPERS } from './lua-helpers';

/** Fails a queued response; see the header for KEYS, ARGV and return codes. */
export const FAIL_QUEUED_SCRIPT = `
--[[
  Ends a queued response failed with the given error; its retention starts.

  KEYS[1] meta hash
  KEYS[2] snapshot string
  KEYS[3] event log list
  KEYS[4] item-id notes list (only its expiry is touched)

  ARGV[1] error JSON
  ARGV[2] retention in seconds
  ARGV[3] webhook spec of the 'failed' event, or '' (see enqueueWebhook; KEYS[5..7] with it)

  Returns
   1  failed now
   0  missing or not queued; nothing changed
]]
${LUA_HELPERS}
if redis.call('HGET', KEYS[1], 'status') ~= 'queued' then
  return 0
end
redis.call('HSET', KEYS[1], 'status', 'failed', 'error', ARGV[1], 'leaseExpiresAt', '0', 'queueDeadline', '0', 'ttlSeconds', ARGV[2])
expireAll(tonumber(ARGV[2]) * 1000)
enqueueWebhook(ARGV[3])
return 1
`;
