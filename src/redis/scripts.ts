/**
 * The Lua scripts that keep presence and history consistent across
 * processes. Each runs atomically in Redis, so two processes changing one
 * room's presence at the same moment cannot both see themselves as the
 * first (or last), and two publishing to one room get consecutive offsets
 * in the order their publications go out on the room's channel.
 *
 * Each script is followed by its node-redis binding (`defineScript`): what
 * its KEYS and ARGV are, and what its reply becomes. The clients are created
 * with {@linkcode scripts}.
 *
 * Keys, with `<p>` the prefix:
 * - `<p>:p:<room>`: hash user → the cluster's count of that user's connections in the room;
 * - `<p>:n:<node>:p`: hash `<room>\0<user>` → that process's share of it (to undo it if the
 *   process dies);
 * - `<p>:n:<node>`: the process's lease, expiring after `presenceTtl` unless renewed;
 * - `<p>:nodes`: the set of processes that hold presence;
 * - `<p>:r:<room>`: the room's channel, where presence events are published;
 * - `<p>:hm:<room>`: the room's stream position, hash `e` (epoch), `s` (last offset), kept for
 *   `positionTtl` after the last publication;
 * - `<p>:h:<room>`: the room's stream, entry ids `<offset>-0`, fields `d` (the payload), `t`
 *   (1 a string, 2 the JSON text of a value, 0 bytes), `x` (when it expires, ms); at most `size`
 *   entries, kept for `ttl` after the last publication.
 *
 * @module
 */

import { defineScript } from "@redis/client";
import type { Buffer } from "node:buffer";

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

/** The binding of {@linkcode PRESENCE_DELTA}. */
const presenceDelta = defineScript({
  NUMBER_OF_KEYS: 3,
  SCRIPT: PRESENCE_DELTA,
  parseCommand(
    parser,
    roomKey: string,
    nodeKey: string,
    channel: string,
    user: string,
    field: string,
    delta: number,
    join: Buffer,
    leave: Buffer,
  ) {
    parser.pushKeys([roomKey, nodeKey, channel]);
    parser.push(user, field, String(delta), join, leave);
  },
  transformReply: (reply: unknown) => reply as number,
});

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

/** The binding of {@linkcode PRESENCE_DROP_NODE}. */
const presenceDropNode = defineScript({
  NUMBER_OF_KEYS: 3,
  SCRIPT: PRESENCE_DROP_NODE,
  parseCommand(
    parser,
    nodeKey: string,
    nodesKey: string,
    leaseKey: string,
    prefix: string,
    node: string,
    runner: string,
  ) {
    parser.pushKeys([nodeKey, nodesKey, leaseKey]);
    parser.push(prefix, node, runner);
  },
  transformReply: (reply: unknown) => reply as string[],
});

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

/** The binding of {@linkcode PRESENCE_SYNC}. */
const presenceSync = defineScript({
  NUMBER_OF_KEYS: 3,
  SCRIPT: PRESENCE_SYNC,
  parseCommand(
    parser,
    nodeKey: string,
    nodesKey: string,
    leaseKey: string,
    prefix: string,
    node: string,
    leaseMs: number,
    entries: string[],
  ) {
    parser.pushKeys([nodeKey, nodesKey, leaseKey]);
    parser.push(prefix, node, String(leaseMs), ...entries);
  },
  transformReply: (reply: unknown) => reply as string[],
});

/**
 * Appends a publication to a room's stream and publishes it, with its
 * position, on the room's channel: one atomic step, so the channel carries
 * the room's publications in offset order. A room without a position gets
 * a new epoch (and its stream, if a stale one is left, is dropped).
 * KEYS: position hash, stream, room channel. ARGV: size, ttl ms, position
 * ttl ms, a new epoch (used if the room has none), the envelope's header
 * without its closing brace, the payload, the stream's `t` (1 a string, 2
 * the JSON text of a value, 0 bytes). Returns { offset, epoch, the number of
 * subscribers the PUBLISH reached }. docs/channel-format.md quotes it: a
 * publisher in another language runs it as it is.
 */
export const HISTORY_APPEND = `
local epoch = redis.call('HGET', KEYS[1], 'e')
if not epoch then
  epoch = ARGV[4]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'e', epoch)
end
local offset = redis.call('HINCRBY', KEYS[1], 's', 1)
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local expires = string.format('%.0f', now + tonumber(ARGV[2]))
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[1], offset .. '-0', 'd', ARGV[6], 't', ARGV[7], 'x', expires)
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local receivers = redis.call('PUBLISH', KEYS[3], ARGV[5] .. ',"x":' .. offset .. ',"e":"' .. epoch .. '"}\\n' .. ARGV[6])
return {offset, epoch, receivers}
`;

/** The binding of {@linkcode HISTORY_APPEND}. */
const historyAppend = defineScript({
  NUMBER_OF_KEYS: 3,
  SCRIPT: HISTORY_APPEND,
  parseCommand(parser, keys: string[], args: string[], payload: Buffer) {
    parser.pushKeys(keys);
    parser.push(...args.slice(0, 5), payload, ...args.slice(5));
  },
  transformReply: (reply: unknown) => {
    const [offset, epoch, receivers] = reply as [number, string | Buffer, number];
    return [Number(offset), String(epoch), Number(receivers)] as [number, string, number];
  },
});

/**
 * Reads a room's stream: its position, then the unexpired publications
 * asked for. KEYS: position hash, stream. ARGV: the offset to read after
 * (empty: the newest), the epoch it belongs to (empty: any), the most to
 * return (empty: all). Returns a flat list: epoch (empty when the room has
 * no position), last offset, then offset, 1 or 0 (text or bytes), payload
 * for each publication, oldest first. With an epoch that is not the
 * room's, no publication is returned.
 */
export const HISTORY_READ = `
local meta = redis.call('HMGET', KEYS[1], 'e', 's')
if not meta[1] then return {'', '0'} end
local out = {meta[1], meta[2]}
local limit = tonumber(ARGV[3])
local entries
if limit == 0 then
  -- Redis 7.0 answers XRANGE/XREVRANGE ... COUNT 0 with nil, 7.2 with an empty list: ask neither.
  entries = {}
elseif ARGV[1] ~= '' then
  if ARGV[2] ~= '' and ARGV[2] ~= meta[1] then return out end
  local start = (tonumber(ARGV[1]) + 1) .. '-0'
  if limit then
    entries = redis.call('XRANGE', KEYS[2], start, '+', 'COUNT', limit)
  else
    entries = redis.call('XRANGE', KEYS[2], start, '+')
  end
elseif limit then
  local newest = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', limit)
  entries = {}
  for i = #newest, 1, -1 do entries[#entries + 1] = newest[i] end
else
  entries = redis.call('XRANGE', KEYS[2], '-', '+')
end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
for _, entry in ipairs(entries) do
  local fields = {}
  for i = 1, #entry[2], 2 do fields[entry[2][i]] = entry[2][i + 1] end
  if tonumber(fields.x) > now then
    local id = entry[1]
    out[#out + 1] = string.sub(id, 1, string.find(id, '-', 1, true) - 1)
    out[#out + 1] = fields.t
    out[#out + 1] = fields.d
  end
end
return out
`;

/** The binding of {@linkcode HISTORY_READ}. */
const historyRead = defineScript({
  NUMBER_OF_KEYS: 2,
  SCRIPT: HISTORY_READ,
  parseCommand(parser, keys: string[], args: string[]) {
    parser.pushKeys(keys);
    parser.push(...args);
  },
  transformReply: (reply: unknown) => reply as Buffer[],
});

/** Every script, for node-redis `createClient({ scripts })`. */
export const scripts = {
  presenceDelta,
  presenceDropNode,
  presenceSync,
  historyAppend,
  historyRead,
};
