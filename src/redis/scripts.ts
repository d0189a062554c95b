/**
 * The Lua scripts that keep presence consistent across processes. Each runs
 * atomically in Redis, so two processes changing one room's presence at the
 * same moment cannot both see themselves as the first (or last).
 *
 * Keys, with `<p>` the prefix:
 * - `<p>:p:<room>`: hash user → the cluster's count of that user's connections in the room;
 * - `<p>:n:<node>:p`: hash `<room>\0<user>` → that process's share of it (to undo it if the
 *   process dies);
 * - `<p>:n:<node>`: the process's lease, expiring after `presenceTtl` unless renewed;
 * - `<p>:nodes`: the set of processes that hold presence;
 * - `<p>:r:<room>`: the room's channel, where presence events are published.
 *
 * @module
 */

/**
 * Applies one process's change of one user's connection count in one room.
 * KEYS: room hash, node hash, room channel. ARGV: user, field, delta,
 * envelope prefix for a join event, for a leave event (the JSON body's start:
 * the script appends nothing; both envelopes are complete).
 * Returns 1 when the user's first connection in the cluster joined, -1 when
 * its last left, 0 otherwise.
 */
export const PRESENCE_DELTA = `
local delta = tonumber(ARGV[3])
local mine = redis.call('HINCRBY', KEYS[2], ARGV[2], delta)
if mine <= 0 then redis.call('HDEL', KEYS[2], ARGV[2]) end
local total = redis.call('HINCRBY', KEYS[1], ARGV[1], delta)
if total <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
if delta > 0 and total == delta then
  redis.call('PUBLISH', KEYS[3], ARGV[4])
  return 1
end
if delta < 0 and total <= 0 and total > delta then
  redis.call('PUBLISH', KEYS[3], ARGV[5])
  return -1
end
return 0
`;

/**
 * Removes a process's whole share of presence (it died, or is closing):
 * every user whose last connections were there leaves, and a leave event is
 * published on the room's channel, by the process running the script.
 * KEYS: node hash, nodes set, node lease. ARGV: prefix, node id, the
 * runner's id (the events' origin).
 * Returns a flat list room, user, room, user… of the users that left.
 */
export const PRESENCE_DROP_NODE = `
local entries = redis.call('HGETALL', KEYS[1])
local left = {}
for i = 1, #entries, 2 do
  local field = entries[i]
  local count = tonumber(entries[i + 1])
  local sep = string.find(field, '\\0', 1, true)
  local room = string.sub(field, 1, sep - 1)
  local user = string.sub(field, sep + 1)
  local roomKey = ARGV[1] .. ':p:' .. room
  local total = redis.call('HINCRBY', roomKey, user, -count)
  if total <= 0 then
    redis.call('HDEL', roomKey, user)
    if total + count > 0 then
      local event = cjson.encode({room = room, user = user, event = 'leave'})
      local header = cjson.encode({o = ARGV[3], k = 'p'})
      redis.call('PUBLISH', ARGV[1] .. ':r:' .. room, header .. '\\n' .. event)
      table.insert(left, room)
      table.insert(left, user)
    end
  end
end
redis.call('DEL', KEYS[1])
redis.call('DEL', KEYS[3])
redis.call('SREM', KEYS[2], ARGV[2])
return left
`;

/**
 * Makes a process's share of presence equal to what it really holds (after
 * Redis came back, possibly empty, or after its lease expired and another
 * process dropped its share): for each entry, the difference is applied to
 * the room's count, with join and leave events on transitions; entries it
 * no longer holds are removed. KEYS: node hash, nodes set, node lease.
 * ARGV: prefix, node id, lease ms, then triples room, user, count.
 * Returns a flat list room, user, event ("join" or "leave"), … of the
 * transitions it caused.
 */
export const PRESENCE_SYNC = `
local prefix = ARGV[1]
local wanted = {}
for i = 4, #ARGV, 3 do
  wanted[ARGV[i] .. '\\0' .. ARGV[i + 1]] = tonumber(ARGV[i + 2])
end
local changes = {}
local function apply(field, delta)
  if delta == 0 then return end
  local sep = string.find(field, '\\0', 1, true)
  local room = string.sub(field, 1, sep - 1)
  local user = string.sub(field, sep + 1)
  local roomKey = prefix .. ':p:' .. room
  local total = redis.call('HINCRBY', roomKey, user, delta)
  local event = nil
  if total <= 0 then
    redis.call('HDEL', roomKey, user)
    if total - delta > 0 then event = 'leave' end
  elseif total == delta then
    event = 'join'
  end
  if event then
    local body = cjson.encode({room = room, user = user, event = event})
    local header = cjson.encode({o = ARGV[2], k = 'p'})
    redis.call('PUBLISH', prefix .. ':r:' .. room, header .. '\\n' .. body)
    table.insert(changes, room)
    table.insert(changes, user)
    table.insert(changes, event)
  end
end
local current = redis.call('HGETALL', KEYS[1])
local seen = {}
for i = 1, #current, 2 do
  local field = current[i]
  seen[field] = true
  local want = wanted[field] or 0
  apply(field, want - tonumber(current[i + 1]))
end
for field, want in pairs(wanted) do
  if not seen[field] then apply(field, want) end
end
redis.call('DEL', KEYS[1])
for field, want in pairs(wanted) do
  if want > 0 then redis.call('HSET', KEYS[1], field, want) end
end
redis.call('SET', KEYS[3], '1', 'PX', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[2])
return changes
`;
