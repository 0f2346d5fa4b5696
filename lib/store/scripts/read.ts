// Lua: read meta, snapshot and log tail in one step, sweeping a lapsed lease first.

import { LUA_HELPERS } from './lua-helpers';

/** Reads a response; see the header for KEYS, ARGV and return codes. */
export const READ_SCRIPT = `
--[[
  Reads a response: meta, snapshot and the log entries after the snapshot. A non-terminal
  response whose lease has lapsed is first marked failed (worker lost) and its retention starts.

  KEYS[1] meta hash
  KEYS[2] snapshot string
  KEYS[3] event log list
  KEYS[4] item-id notes list (only its expiry is touched)

  ARGV[1] '1' to check the owner, '0' for an administrator
  ARGV[2] owner hash (ignored unless ARGV[1] is '1')
  ARGV[3] JSON of the error recorded when the lease has lapsed
  ARGV[4] webhook spec of the 'failed' event, or '' (see enqueueWebhook; KEYS[5..7] with it)

  Returns
   { -1 }                                               missing, or owned by someone else
   { 0, meta values, snapshot, tail entries, log length } found (snapshot false if its key is gone)
   { 1, meta values, snapshot, tail entries, log length } found, and this read marked the lease lost
]]
${LUA_HELPERS}
-- One HMGET tells missing, someone else's and terminal; a terminal response is never swept.
local head = redis.call('HMGET', KEYS[1], 'status', 'owner')
if (not head[1] and redis.call('EXISTS', KEYS[1]) == 0) or (ARGV[1] == '1' and head[2] ~= ARGV[2]) then
  return { -1 }
end
return storedReply((not TERMINAL[head[1]] and sweepLease(ARGV[3], ARGV[4])) and 1 or 0)
`;
