// Lua: free the slots of one response, exactly once.

/** Releases slots; see the header for KEYS, ARGV and return codes. */
export const RELEASE_SCRIPT = `
--[[
  Frees the slots of response ARGV[1]. The admission hash's 'released' field makes this
  happen once: a second call, or a call after a rollback, changes nothing.

  KEYS[1]      admission hash of the response
  KEYS[2 ..]   running sorted sets of the subjects

  ARGV[1]  response id
  ARGV[2]  admission hash lifetime in ms from now

  Returns
   1  released now
   0  released before; nothing changed
]]
if redis.call('HSETNX', KEYS[1], 'released', '1') == 0 then
  return 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
for i = 2, #KEYS do
  redis.call('ZREM', KEYS[i], ARGV[1])
end
return 1
`;
