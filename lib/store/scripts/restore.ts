// Lua: write a running response's record again from its worker's memory, unless it exists or was deleted.

import type { RestoreInput } from '../../types';
import { withItemIds } from '../log-pages';
import { LUA_HELPERS } from './lua-helpers';

/** Restores a record; see the header for KEYS, ARGV and return codes. */
export const RESTORE_SCRIPT = `
--[[
  Writes the record of a running response again, as its worker last had it acknowledged, when
  Redis lost it (restarted empty, or its keys were removed). A tombstone means it was deleted.

  KEYS[1] meta hash
  KEYS[2] snapshot string
  KEYS[3] event log list
  KEYS[4] item-id notes list
  KEYS[5] tombstone string

  ARGV[1]  owner hash
  ARGV[2]  stream flag, '1' or '0'
  ARGV[3]  fencing token of the worker
  ARGV[4]  status (not terminal)
  ARGV[5]  snapshot JSON
  ARGV[6]  sequence number of the last event the snapshot covers
  ARGV[7]  sequence number of the last event
  ARGV[8]  lease in ms
  ARGV[9]  retention in seconds
  ARGV[10] k, the number of item-id notes of the events
  ARGV[11..10+k] those notes
  ARGV[11+k..] the log from sequence 0 (ARGV[7] + 1 entries), or none when the worker lost it

  Returns
   0  restored
   1  the meta hash exists; nothing written
   2  deleted (the tombstone is there); nothing written
]]
${LUA_HELPERS}
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 1
end
if redis.call('EXISTS', KEYS[5]) == 1 then
  return 2
end
local leaseMs = tonumber(ARGV[8])
redis.call('HSET', KEYS[1],
  'status', ARGV[4], 'owner', ARGV[1], 'lastSeq', ARGV[7], 'fence', ARGV[3],
  'leaseExpiresAt', int(nowMs() + leaseMs), 'stream', ARGV[2], 'error', '',
  'snapshotSeq', ARGV[6], 'ttlSeconds', ARGV[9], 'viaQueue', '0', 'queueDeadline', '0')
redis.call('SET', KEYS[2], ARGV[5])
-- What is left of a log without its meta cannot be trusted: the worker's copy replaces it.
redis.call('DEL', KEYS[3], KEYS[4])
pushFrom(pushItemIds(10))
expireAll(tonumber(ARGV[9]) * 1000 + leaseMs)
return 0
`;

/** The restore script's ARGV for `input`. */
export function restoreArgs(input: RestoreInput): string[] {
  return [
    input.owner,
    input.stream ? '1' : '0',
    String(input.fence),
    input.status,
    input.snapshot,
    String(input.snapshotSeq),
    String(input.lastSeq),
    String(input.leaseMs),
    String(input.ttlSeconds),
    ...withItemIds(input.events, 0),
  ];
}
