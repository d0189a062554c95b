/**
 * The Lua scripts of a `RedisBackplane` on a Redis Cluster. A script may
 * only touch keys of one slot there, so every one of these works on one
 * room, whose keys share the room's hash tag (`names.ts`): its channel,
 * stream, position, presence hash, count and the processes' shares. What a
 * single-server script does for many rooms at once (`scripts.ts`), the
 * cluster connection does with one of these per room, in parallel.
 *
 * Keys, with `<p>` the prefix and `{<room>}` the room as a hash tag:
 * - `<p>:p:{<room>}`, `<p>:pc:{<room>}`: as on a single server (`scripts.ts`);
 * - `<p>:pn:{<room>}:<node>`: hash user → that process's count of the user's connections in
 *   the room (its share, to undo it if the process dies);
 * - `<p>:r:{<room>}`, `<p>:hm:{<room>}`, `<p>:h:{<room>}`: the room's (sharded) channel,
 *   position and stream, as on a single server.
 *
 * @module
 */

import { defineScript } from "@redis/client";
import type { Buffer } from "node:buffer";
import { appendScript, HISTORY_APPEND, READ_PAGE } from "./scripts.ts";

/**
 * {@linkcode HISTORY_APPEND} with SPUBLISH: the room's channel is a sharded
 * channel, in the slot of its stream and position (KEYS[3]).
 */
export const CLUSTER_HISTORY_APPEND: string = HISTORY_APPEND.replace(
  "redis.call('PUBLISH'",
  "redis.call('SPUBLISH'",
);

const historyAppend = appendScript(CLUSTER_HISTORY_APPEND);

/**
 * One read of one room's stream, as one read of `HISTORY_READ_MANY`
 * (`scripts.ts`). KEYS: position, stream. ARGV: the offset to read after
 * (empty: the newest), the epoch it belongs to (empty: any), the most to
 * return (empty: all). Returns Redis's time in ms, then the read's list:
 * epoch (empty without a position), last offset, the position's PTTL, then
 * offset, kind, payload, expiry per publication, oldest first.
 */
export const HISTORY_READ_ROOM = READ_PAGE + `
local time = redis.call('TIME')
local now = tostring(tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000))
return {now, readPage(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3])}
`;

/** The binding of {@linkcode HISTORY_READ_ROOM}. */
const historyReadRoom = defineScript({
  NUMBER_OF_KEYS: 2,
  SCRIPT: HISTORY_READ_ROOM,
  parseCommand(parser, keys: string[], after: string, epoch: string, limit: string) {
    parser.pushKeys(keys);
    parser.push(after, epoch, limit);
  },
  transformReply: (reply: unknown) => reply as [Buffer, Buffer[]],
});

/**
 * The part every presence script shares: `apply(user, delta)` changes the
 * room's count of `user` (and its total), and on a transition publishes the
 * event on the room's sharded channel and adds room, user, event to `out`.
 * KEYS: presence hash, count, the process's share, the room's channel.
 * ARGV[1] the room, ARGV[2] the envelope header.
 */
const APPLY = `
local room = ARGV[1]
local header = ARGV[2]
local out = {}
local function apply(user, delta)
  if delta == 0 then return end
  local total = redis.call('HINCRBY', KEYS[1], user, delta)
  if total <= 0 then redis.call('HDEL', KEYS[1], user) end
  if redis.call('EXISTS', KEYS[2]) == 1 then
    if redis.call('INCRBY', KEYS[2], delta) <= 0 or redis.call('EXISTS', KEYS[1]) == 0 then
      redis.call('DEL', KEYS[2])
    end
  end
  local event = nil
  if delta > 0 and total == delta then event = 'join' end
  if delta < 0 and total <= 0 and total > delta then event = 'leave' end
  if event then
    local body = cjson.encode({room = room, user = user, event = event})
    redis.call('SPUBLISH', KEYS[4], header .. '\\n' .. body)
    out[#out + 1] = room
    out[#out + 1] = user
    out[#out + 1] = event
  end
end
`;

/**
 * One process's changes in one room, made in one turn. ARGV: room, header,
 * then pairs user, delta. Returns room, user, event triples of the
 * transitions it made, and one more item (empty) when the process has no
 * share left in the room (it may leave the process's rooms set).
 */
export const PRESENCE_ROOM_DELTAS = APPLY + `
for i = 3, #ARGV, 2 do
  local user = ARGV[i]
  local delta = tonumber(ARGV[i + 1])
  local mine = redis.call('HINCRBY', KEYS[3], user, delta)
  if mine <= 0 then redis.call('HDEL', KEYS[3], user) end
  apply(user, delta)
end
if redis.call('EXISTS', KEYS[3]) == 0 then out[#out + 1] = '' end
return out
`;

/**
 * Makes one process's share in one room exactly the pairs given (none: the
 * process leaves the room, as when it closes or died). ARGV: room, header,
 * then pairs user, count. Returns room, user, event triples.
 */
export const PRESENCE_ROOM_SET = APPLY + `
local wanted = {}
for i = 3, #ARGV, 2 do wanted[ARGV[i]] = tonumber(ARGV[i + 1]) end
local current = redis.call('HGETALL', KEYS[3])
local seen = {}
for i = 1, #current, 2 do
  local user = current[i]
  seen[user] = true
  apply(user, (wanted[user] or 0) - tonumber(current[i + 1]))
end
for user, want in pairs(wanted) do
  if not seen[user] then apply(user, want) end
end
redis.call('DEL', KEYS[3])
for user, want in pairs(wanted) do
  if want > 0 then redis.call('HSET', KEYS[3], user, want) end
end
return out
`;

/** The keys of a room's presence script, for process `node`. */
export type RoomPresenceKeys = [presence: string, count: string, share: string, channel: string];

/** The binding of a room presence script: KEYS {@linkcode RoomPresenceKeys}, ARGV room, header, pairs. */
function roomPresenceScript(script: string) {
  return defineScript({
    NUMBER_OF_KEYS: 4,
    SCRIPT: script,
    parseCommand(parser, keys: RoomPresenceKeys, room: string, header: string, pairs: string[]) {
      parser.pushKeys(keys);
      parser.push(room, header, ...pairs);
    },
    transformReply: (reply: unknown) => reply as string[],
  });
}

const presenceRoomDeltas = roomPresenceScript(PRESENCE_ROOM_DELTAS);
const presenceRoomSet = roomPresenceScript(PRESENCE_ROOM_SET);

/** `PRESENCE_STATS` (`scripts.ts`) with its keys declared. KEYS: presence hash, count. */
export const PRESENCE_ROOM_STATS = `
local users = redis.call('HLEN', KEYS[1])
if users == 0 then
  redis.call('DEL', KEYS[2])
  return {0, 0}
end
local connections = redis.call('GET', KEYS[2])
if not connections then
  connections = 0
  for _, count in ipairs(redis.call('HVALS', KEYS[1])) do connections = connections + tonumber(count) end
  redis.call('SET', KEYS[2], connections)
end
return {users, tonumber(connections)}
`;

const presenceRoomStats = defineScript({
  NUMBER_OF_KEYS: 2,
  SCRIPT: PRESENCE_ROOM_STATS,
  parseCommand(parser, presence: string, count: string) {
    parser.pushKeys([presence, count]);
  },
  transformReply: (reply: unknown) => {
    const [users, connections] = reply as [number, number];
    return { users: Number(users), connections: Number(connections) };
  },
});

/** Every cluster script, for node-redis `createCluster({ scripts })`. */
export const clusterScripts = {
  historyAppend,
  historyReadRoom,
  presenceRoomDeltas,
  presenceRoomSet,
  presenceRoomStats,
};
