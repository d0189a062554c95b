/**
 * Presence events as the application sees them: one diff per room per
 * window. Rooms are not needed to get them (the server may put a client in a
 * room itself), so this lives apart from `rooms.ts`.
 *
 * @module
 */

import type { PresenceDiff } from "../protocol/mod.ts";

/**
 * Presence events (`u`) of one room as one {@linkcode PresenceDiff}: each
 * user where its last event left it. The client hands a run of `u` events of
 * one room that arrive together (one WebSocket message: a hub sends a
 * window's events at once) to the application as one diff.
 */
export function diffOf(
  room: string,
  events: readonly { user: string; event: "join" | "leave" }[],
): PresenceDiff {
  const state = new Map<string, boolean>();
  for (const { user, event } of events) {
    state.delete(user);
    state.set(user, event === "join");
  }
  const diff: PresenceDiff = { room, joins: [], leaves: [] };
  for (const [user, joined] of state) (joined ? diff.joins : diff.leaves).push(user);
  return diff;
}
