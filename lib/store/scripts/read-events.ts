// Lua: read meta and a page of the log after a sequence number, sweeping a lapsed lease first.

import { LUA_HELPERS } from './lua-helpers';

/** Reads log entries after a sequence number; see the header for KEYS, ARGV and return codes. */
export const READ_EVENTS_SCRIPT = `
--[[
  Reads the meta and at most ARGV[5] log entries with a sequence number above ARGV[4] (fewer
  when they would exceed ARGV[7] bytes, but always one; all of them when they reach the end of
  the log within ARGV[8] bytes), and with ARGV[6] the item-id notes. Reads only what it returns:
  a page costs its own size, wherever it starts. A non-terminal response whose lease has lapsed is first marked failed (worker lost).

  KEYS[1] meta hash
  KEYS[2] snapshot string (only its expiry is touched)
  KEYS[3] event log list
  KEYS[4] item-id notes list

  ARGV[1] '1' to check the owner, '0' for an administrator
  ARGV[2] owner hash (ignored unless ARGV[1] is '1')
  ARGV[3] JSON of the error recorded when the lease has lapsed
  ARGV[4] afterSeq: -1 for the whole log
  ARGV[5] the most entries to return; 0 for every entry after afterSeq
  ARGV[6] '1' to return the item-id notes, else '0'
  ARGV[7] the most bytes of entries to return (at least one entry is); 0 for no such bound
  ARGV[8] the most bytes of entries that reach the end of the log, returned whole; 0 for none
  ARGV[9] webhook spec of the 'failed' event, or '' (see enqueueWebhook; KEYS[5..7] with it)

  Returns
   { -1 }                                                   missing, or owned by someone else
   { 0, meta values, log entries, notes or {}, log length }  found
   { 1, meta values, log entries, notes or {}, log length }  found, and this read marked the lease lost
]]
${LUA_HELPERS}
if redis.call('EXISTS', KEYS[1]) == 0 or ownerMismatch(ARGV[1], ARGV[2]) then
  return { -1 }
end
local swept = sweepLease(ARGV[3], ARGV[9])
local first = math.max(0, tonumber(ARGV[4]) + 1)
local limit = tonumber(ARGV[5])
local last = limit > 0 and int(first + limit - 1) or '-1'
local entries = redis.call('LRANGE', KEYS[3], int(first), last)
local length = redis.call('LLEN', KEYS[3])
local maxBytes = tonumber(ARGV[7])
local tailBytes = tonumber(ARGV[8])
if maxBytes > 0 and tailBytes > maxBytes and first + #entries >= length then
  local bytes = 0
  for i = 1, #entries do
    bytes = bytes + #entries[i]
  end
  if bytes <= tailBytes then
    maxBytes = 0
  end
end
if maxBytes > 0 then
  local page, bytes = {}, 0
  for i = 1, #entries do
    bytes = bytes + #entries[i]
    if bytes > maxBytes and i > 1 then
      break
    end
    page[i] = entries[i]
  end
  entries = page
end
local notes = ARGV[6] == '1' and redis.call('LRANGE', KEYS[4], 0, -1) or {}
return { swept and 1 or 0, storedMeta(), entries, notes, length }
`;
