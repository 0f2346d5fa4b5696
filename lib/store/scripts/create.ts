// Lua: create a response record (meta hash, snapshot, initial log) unless the id exists.

import { LUA_HELPERS } from './lua-helpers';

/** Creates a record; see the header for KEYS, ARGV and return codes. */
export const CREATE_SCRIPT = `
--[[
  Creates a response record.

  KEYS[1] meta hash
  KEYS[2] snapshot string
  KEYS[3] event log list

  ARGV[1]  owner hash
  ARGV[2]  snapshot JSON (covers events 0 .. n-1)
  ARGV[3]  stream flag, '1' or '0'
  ARGV[4]  lease in ms
  ARGV[5]  retention in seconds
  ARGV[6..] the n initial encoded events, from sequence 0

  Returns
   1  created (fence 1)
   0  the id exists; nothing written
]]
${LUA_HELPERS}
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local leaseMs = tonumber(ARGV[4])
local n = #ARGV - 5
redis.call('HSET', KEYS[1],
  'status', 'queued', 'owner', ARGV[1], 'lastSeq', int(n - 1), 'fence', '1',
  'leaseExpiresAt', int(nowMs() + leaseMs), 'stream', ARGV[3], 'error', '',
  'snapshotSeq', int(n - 1), 'ttlSeconds', ARGV[5])
redis.call('SET', KEYS[2], ARGV[2])
-- Without a meta hash a stray log cannot belong to a live record; start it afresh.
redis.call('DEL', KEYS[3])
pushFrom(6)
expireAll(tonumber(ARGV[5]) * 1000 + leaseMs)
return 1
`;
