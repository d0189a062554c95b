/**
 * `hub.stats()`: a snapshot of what the hub's parts count, built when asked
 * (nothing is kept up to date in between but the counters themselves).
 *
 * @module
 */

import type { Parts } from "./wiring.ts";
import type { HubStats } from "./stats.ts";

/** What only the hub itself knows: its sockets, its refusals, its backplane's status. */
export type HubOwnStats = Pick<
  HubStats,
  "sockets" | "refusedForCapacity" | "admissionsPaced" | "backplane"
>;

/** The snapshot of `hub.stats()`, from the parts and what the hub adds. */
export function snapshot(parts: Parts, own: HubOwnStats): HubStats {
  const { counters, registry, dispatcher, closer, requests, rooms, handOffs } = parts;
  let dropped = counters.dropped;
  let framed = 0;
  for (const connection of registry.connections()) {
    dropped += connection.writer.dropped;
    if (connection.framed) framed++;
  }
  return {
    connections: registry.size,
    framedConnections: framed,
    users: registry.users,
    rooms: registry.rooms,
    connected: counters.connected,
    disconnected: counters.disconnected,
    messagesIn: counters.messagesIn,
    deliveries: counters.deliveries,
    bytesOut: handOffs.bytes,
    dropped,
    slowConsumers: counters.slowConsumers,
    timedOut: counters.timedOut,
    timeouts: { ...counters.timeouts },
    rateLimited: counters.rateLimited,
    inboxBytes: dispatcher.waiting.bytes,
    closing: closer.pending,
    forcedReleases: counters.forcedReleases,
    leakedSockets: counters.leakedSockets,
    oversizedMessages: counters.oversizedMessages,
    closeCodes: Object.fromEntries(counters.closeCodes),
    credentials: {
      refreshed: counters.refreshes,
      refused: counters.refreshesRefused,
      expired: counters.expired,
      revoked: counters.revoked,
    },
    requests: requests.stats(),
    recoveries: { ...rooms.recoveries },
    presenceDiffs: counters.presenceDiffs,
    roomChangesRefused: counters.roomChangesRefused,
    ...own,
  };
}
