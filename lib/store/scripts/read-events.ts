// Lua: read meta and the log after a sequence number, sweeping a lapsed lease first.

import { LUA_HELPERS } from './lua-helpers';

/** Reads log entries after a sequence number; see the header for KEYS, ARGV and return codes. */
export const READ_EVENTS_SCRIPT = `
--[[
  Reads the meta and the log entries with a sequence number above ARGV[4]. A non-terminal
  response whose lease has lapsed is first marked failed (worker lost).

  KEYS[1] meta hash
  KEYS[2] snapshot string (only its expiry is touched)
  KEYS[3] event log list

  ARGV[1] '1' to check the owner, '0' for an administrator
  ARGV[2] owner hash (ignored unless ARGV[1] is '1')
  ARGV[3] JSON of the error recorded when the lease has lapsed
  ARGV[4] afterSeq: -1 for the whole log

  Returns
   { -1 }                         missing, or owned by someone else
   { 0, meta pairs, log entries } found
   { 1, meta pairs, log entries } found, and this read marked the lease lost
]]
${LUA_HELPERS}
if redis.call('EXISTS', KEYS[1]) == 0 or ownerMismatch(ARGV[1], ARGV[2]) then
  return { -1 }
end
local swept = sweepLease(ARGV[3])
local first = math.max(0, tonumber(ARGV[4]) + 1)
return { swept and 1 or 0, redis.call('HGETALL', KEYS[1]), redis.call('LRANGE', KEYS[3], int(first), '-1') }
`;
