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
 * - `<p>:pc:<room>`: the sum of that hash's counts (the room's connections), made by
 *   `PRESENCE_STATS` when first asked and kept by every script that changes the hash;
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
 * Applies one process's changes of users' connection counts in rooms, made
 * in one turn of its event loop: one call for all of them. For each triple
 * room, user, delta: the process's share (its node hash) and the cluster's
 * count (the room's hash, and its total of connections) change by `delta`,
 * and a user whose count went from 0 (or to 0) is published as a join (or
 * leave) event on the room's channel. KEYS: none (each room's keys are
 * named from the prefix). ARGV: prefix, node hash key, the envelope header
 * (the JSON line before a presence event, with its origin), then triples
 * room, user, delta. Returns a flat list room, user, event ("join" or
 * "leave") of the transitions it made, in order.
 */
export const PRESENCE_DELTAS = `
local prefix = ARGV[1]
local nodeKey = ARGV[2]
local header = ARGV[3]
local out = {}
for i = 4, #ARGV, 3 do
  local room = ARGV[i]
  local user = ARGV[i + 1]
  local delta = tonumber(ARGV[i + 2])
  local field = room .. '\\0' .. user
  local mine = redis.call('HINCRBY', nodeKey, field, delta)
  if mine <= 0 then redis.call('HDEL', nodeKey, field) end
  local roomKey = prefix .. ':p:' .. room
  local countKey = prefix .. ':pc:' .. room
  local total = redis.call('HINCRBY', roomKey, user, delta)
  if total <= 0 then redis.call('HDEL', roomKey, user) end
  if redis.call('EXISTS', countKey) == 1 then
    if redis.call('INCRBY', countKey, delta) <= 0 or redis.call('EXISTS', roomKey) == 0 then
      redis.call('DEL', countKey)
    end
  end
  local event = nil
  if delta > 0 and total == delta then event = 'join' end
  if delta < 0 and total <= 0 and total > delta then event = 'leave' end
  if event then
    local body = cjson.encode({room = room, user = user, event = event})
    redis.call('PUBLISH', prefix .. ':r:' .. room, header .. '\\n' .. body)
    out[#out + 1] = room
    out[#out + 1] = user
    out[#out + 1] = event
  end
end
return out
`;

/** The binding of {@linkcode PRESENCE_DELTAS}. */
const presenceDeltas = defineScript({
  NUMBER_OF_KEYS: 0,
  SCRIPT: PRESENCE_DELTAS,
  parseCommand(parser, prefix: string, nodeKey: string, header: string, triples: string[]) {
    parser.push(prefix, nodeKey, header, ...triples);
  },
  transformReply: (reply: unknown) => reply as string[],
});

/**
 * A room's presence counts: how many users (the hash's fields) and how many
 * of their connections (a total kept beside the hash, made from the hash
 * the first time it is asked, and dropped with it). KEYS: none. ARGV:
 * prefix, room. Returns { users, connections }.
 */
export const PRESENCE_STATS = `
local roomKey = ARGV[1] .. ':p:' .. ARGV[2]
local countKey = ARGV[1] .. ':pc:' .. ARGV[2]
local users = redis.call('HLEN', roomKey)
if users == 0 then
  redis.call('DEL', countKey)
  return {0, 0}
end
local connections = redis.call('GET', countKey)
if not connections then
  connections = 0
  for _, count in ipairs(redis.call('HVALS', roomKey)) do connections = connections + tonumber(count) end
  redis.call('SET', countKey, connections)
end
return {users, tonumber(connections)}
`;

/** The binding of {@linkcode PRESENCE_STATS}. */
const presenceStats = defineScript({
  NUMBER_OF_KEYS: 0,
  SCRIPT: PRESENCE_STATS,
  parseCommand(parser, prefix: string, room: string) {
    parser.push(prefix, room);
  },
  transformReply: (reply: unknown) => {
    const [users, connections] = reply as [number, number];
    return { users: Number(users), connections: Number(connections) };
  },
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
  local countKey = ARGV[1] .. ':pc:' .. room
  local total = redis.call('HINCRBY', roomKey, user, -count)
  if total <= 0 then redis.call('HDEL', roomKey, user) end
  if redis.call('EXISTS', countKey) == 1 then
    if redis.call('INCRBY', countKey, -count) <= 0 or redis.call('EXISTS', roomKey) == 0 then
      redis.call('DEL', countKey)
    end
  end
  if total <= 0 then
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
  local countKey = prefix .. ':pc:' .. room
  local total = redis.call('HINCRBY', roomKey, user, delta)
  local event = nil
  if total <= 0 then
    redis.call('HDEL', roomKey, user)
    if total - delta > 0 then event = 'leave' end
  elseif total == delta then
    event = 'join'
  end
  if redis.call('EXISTS', countKey) == 1 then
    if redis.call('INCRBY', countKey, delta) <= 0 or redis.call('EXISTS', roomKey) == 0 then
      redis.call('DEL', countKey)
    end
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
 * position (and when it expires, and the stream's size), on the room's
 * channel: one atomic step, so the channel carries the room's publications
 * in offset order. A room without a position gets
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
local receivers = redis.call('PUBLISH', KEYS[3], ARGV[5] .. ',"x":' .. offset .. ',"e":"' .. epoch .. '","y":' .. expires .. ',"z":' .. ARGV[1] .. '}\\n' .. ARGV[6])
return {offset, epoch, receivers}
`;

/** The binding of an append script: {@linkcode HISTORY_APPEND}, or its cluster twin. */
export function appendScript(script: string) {
  return defineScript({
    NUMBER_OF_KEYS: 3,
    SCRIPT: script,
    parseCommand(parser, keys: string[], args: string[], payload: Buffer) {
      parser.pushKeys(keys);
      parser.push(...args.slice(0, 5), payload, ...args.slice(5));
    },
    transformReply: (reply: unknown) => {
      const [offset, epoch, receivers] = reply as [number, string | Buffer, number];
      return [Number(offset), String(epoch), Number(receivers)] as [number, string, number];
    },
  });
}

const historyAppend = appendScript(HISTORY_APPEND);

/**
 * Reads rooms' streams, several in one call (the reads a process asks for
 * in one turn of its event loop). For each read: the room's position, how
 * long it is kept, then the publications asked for, expired ones included
 * with their expiry (the caller drops them; a process keeping a room's
 * recent publications needs to know when each one expires). KEYS: none.
 * ARGV: prefix, then quadruples room, the offset to read after (empty: the
 * newest), the epoch it belongs to (empty: any), the most to return
 * (empty: all). Returns Redis's time in ms, then one list per read: epoch
 * (empty when the room has no position), last offset, the position's
 * remaining time in ms (PTTL), then offset, kind (1 text, 2 JSON, 0
 * bytes), payload, expiry (ms) per publication, oldest first. With an epoch
 * that is not the room's, no publication is returned.
 */
export const HISTORY_READ_MANY = `
local prefix = ARGV[1]
local time = redis.call('TIME')
local out = {tostring(tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000))}
for i = 2, #ARGV, 4 do
  local room = ARGV[i]
  out[#out + 1] = readPage(prefix .. ':hm:' .. room, prefix .. ':h:' .. room, ARGV[i + 1], ARGV[i + 2], ARGV[i + 3])
end
return out
`;

/**
 * The Lua function `readPage(meta, stream, after, epoch, limit)`: one read
 * of {@linkcode HISTORY_READ_MANY}, what it answers for it. The read
 * scripts start with it.
 */
export const READ_PAGE = `
local function readPage(meta, stream, after, epoch, limit)
  local position = redis.call('HMGET', meta, 'e', 's')
  if not position[1] then return {'', '0', '0'} end
  local page = {position[1], position[2], tostring(redis.call('PTTL', meta))}
  limit = tonumber(limit)
  local entries = {}
  if limit == 0 then
    -- Redis 7.0 answers XRANGE/XREVRANGE ... COUNT 0 with nil, 7.2 with an empty list: ask neither.
    entries = {}
  elseif after ~= '' then
    if epoch == '' or epoch == position[1] then
      local start = (tonumber(after) + 1) .. '-0'
      if limit then
        entries = redis.call('XRANGE', stream, start, '+', 'COUNT', limit)
      else
        entries = redis.call('XRANGE', stream, start, '+')
      end
    end
  elseif limit then
    local newest = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', limit)
    for j = #newest, 1, -1 do entries[#entries + 1] = newest[j] end
  else
    entries = redis.call('XRANGE', stream, '-', '+')
  end
  for _, entry in ipairs(entries) do
    local fields = {}
    for j = 1, #entry[2], 2 do fields[entry[2][j]] = entry[2][j + 1] end
    local id = entry[1]
    page[#page + 1] = string.sub(id, 1, string.find(id, '-', 1, true) - 1)
    page[#page + 1] = fields.t
    page[#page + 1] = fields.d
    page[#page + 1] = fields.x
  end
  return page
end
`;

/** The binding of {@linkcode HISTORY_READ_MANY}. */
const historyReadMany = defineScript({
  NUMBER_OF_KEYS: 0,
  SCRIPT: READ_PAGE + HISTORY_READ_MANY,
  parseCommand(parser, prefix: string, quadruples: string[]) {
    parser.push(prefix, ...quadruples);
  },
  transformReply: (reply: unknown) => reply as [Buffer, ...Buffer[][]],
});

/** Every script, for node-redis `createClient({ scripts })`. */
export const scripts = {
  presenceDeltas,
  presenceStats,
  presenceDropNode,
  presenceSync,
  historyAppend,
  historyReadMany,
};
