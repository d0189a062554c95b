/**
 * Presence as the members of a room hear it: each member's choice (one `u`
 * event per user, one `U` diff per window, or nothing), and the windows that
 * batch a room's presence changes into one diff.
 *
 * The first change in a room opens its window; `presenceWindow` ms later the
 * room's members are sent one diff: the users who joined and the users who
 * left, a join and a leave of the same user inside the window cancelling
 * out. One timer serves every room (windows end in the order they opened);
 * when it fires it pushes a `presenceFlush` event, and the loop sends.
 *
 * A member whose view of the room starts inside a window — its presence
 * query (`w`) was answered then, or in the window before — could have
 * listed a user who then left and came back (or the reverse) within it: for
 * it the cancelled pair is not nothing. Such a member is sent the final
 * state of every user that changed in the window instead (joins for those
 * present at its end, leaves for the others), which applied on top of its
 * list gives the right list.
 *
 * @module
 */

import {
  encodePresence,
  encodePresenceDiff,
  framedOnly,
  type Payload,
  type PresenceDiff,
  type PresenceEvent,
  type PresenceMode,
} from "../protocol/mod.ts";
import type { Connection } from "./connection.ts";
import type { Delivery } from "./delivery.ts";
import type { Push } from "./events.ts";
import type { Registry } from "./registry.ts";
import type { Counters } from "./stats.ts";

/** How presence is told. */
export interface PresenceOptions {
  /** The window, in ms; 0: every change is told at once. */
  window: number;
  /** Whether a room's members are told at all (the hub's `presenceEvents`). */
  presenceEvents: (room: string) => boolean;
}

/** What presence acts through. */
export interface PresenceParts {
  registry: Registry;
  delivery: Delivery;
  counters: Counters;
  push: Push;
}

/** A user's changes in one window: present before its first change, and after its last. */
interface UserChange {
  before: boolean;
  after: boolean;
}

/** A room's open window. */
interface Window {
  /** When it opened (`performance.now()`). */
  opened: number;
  /** Its users' changes, in the order of their last change. */
  users: Map<string, UserChange>;
}

/** The two diffs of a window, and their frames, built when first needed. */
class Told {
  readonly #room: string;
  readonly #users: Map<string, UserChange>;
  #diffs: [PresenceDiff, PresenceDiff] | undefined;
  readonly #frames = new Map<string, Payload[]>();

  constructor(room: string, users: Map<string, UserChange>) {
    this.#room = room;
    this.#users = users;
  }

  /** The frames for a member in `mode` (not `"none"`); `full`: every user that changed. */
  frames(mode: "events" | "diffs", full: boolean): Payload[] {
    const key = `${mode}:${full}`;
    let frames = this.#frames.get(key);
    if (frames !== undefined) return frames;
    const diff = this.#diff(full);
    frames = [];
    if (diff.joins.length + diff.leaves.length > 0) {
      if (mode === "diffs") frames.push(framedOnly(encodePresenceDiff(diff)));
      else {
        const room = this.#room;
        for (const user of diff.joins) {
          frames.push(framedOnly(encodePresence({ room, user, event: "join" })));
        }
        for (const user of diff.leaves) {
          frames.push(framedOnly(encodePresence({ room, user, event: "leave" })));
        }
      }
    }
    this.#frames.set(key, frames);
    return frames;
  }

  #diff(full: boolean): PresenceDiff {
    if (this.#diffs === undefined) {
      const room = this.#room;
      const cancelled: PresenceDiff = { room, joins: [], leaves: [] };
      const every: PresenceDiff = { room, joins: [], leaves: [] };
      for (const [user, { before, after }] of this.#users) {
        (after ? every.joins : every.leaves).push(user);
        if (before !== after) (after ? cancelled.joins : cancelled.leaves).push(user);
      }
      this.#diffs = [cancelled, every];
    }
    return this.#diffs[full ? 1 : 0];
  }
}

/** Members' presence modes, the rooms' windows, and the one timer. */
export class Presence {
  readonly #options: PresenceOptions;
  readonly #parts: PresenceParts;
  /** Members that chose another mode than `"events"`, per connection and room. */
  readonly #modes = new Map<Connection, Map<string, PresenceMode>>();
  /** Open windows, in the order they opened (so the order they end in). */
  readonly #windows = new Map<string, Window>();
  /** Per room, the connections whose view started recently, and until when it counts. */
  readonly #fresh = new Map<string, Map<Connection, number>>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  constructor(options: PresenceOptions, parts: PresenceParts) {
    this.#options = options;
    this.#parts = parts;
  }

  /** How many rooms have an open window (a leak check). */
  get windows(): number {
    return this.#windows.size;
  }

  /** The sizes of what presence keeps, for leak tests: all 0 once everyone has left. */
  sizes(): { modes: number; windows: number; fresh: number } {
    return { modes: this.#modes.size, windows: this.#windows.size, fresh: this.#fresh.size };
  }

  /** How `connection` hears about presence in `room` (a member: `"events"` unless it chose). */
  modeOf(connection: Connection, room: string): PresenceMode {
    return this.#modes.get(connection)?.get(room) ?? "events";
  }

  /** `connection` became a member of `room`, choosing `mode`. */
  joined(connection: Connection, room: string, mode: PresenceMode): void {
    if (mode === "events") return;
    let rooms = this.#modes.get(connection);
    if (rooms === undefined) this.#modes.set(connection, rooms = new Map());
    rooms.set(room, mode);
  }

  /** `connection` left `room`. */
  left(connection: Connection, room: string): void {
    const rooms = this.#modes.get(connection);
    if (rooms === undefined) return;
    rooms.delete(room);
    if (rooms.size === 0) this.#modes.delete(connection);
  }

  /** `connection` left the hub. */
  departed(connection: Connection): void {
    this.#modes.delete(connection);
  }

  /**
   * `connection` was told who is in `room` (a presence query answered):
   * the windows that open before one window's length from now are sent to
   * it with every user's final state (see the module's doc).
   */
  listed(connection: Connection, room: string): void {
    if (this.#options.window === 0 || !this.#options.presenceEvents(room)) return;
    let fresh = this.#fresh.get(room);
    if (fresh === undefined) this.#fresh.set(room, fresh = new Map());
    fresh.set(connection, performance.now() + this.#options.window);
  }

  /**
   * A presence transition in `room` (this process's, or the cluster's):
   * told at once with no window, else collected in the room's window.
   */
  changed(event: PresenceEvent): void {
    if (this.#stopped || !this.#options.presenceEvents(event.room)) return;
    const joined = event.event === "join";
    const change = new Map([[event.user, { before: !joined, after: joined }]]);
    if (this.#options.window === 0) {
      this.#tell(event.room, new Told(event.room, change), -Infinity);
      return;
    }
    let window = this.#windows.get(event.room);
    if (window === undefined) {
      window = { opened: performance.now(), users: change };
      this.#windows.set(event.room, window);
      if (this.#timer === undefined) this.#arm(window.opened);
      return;
    }
    const user = window.users.get(event.user);
    // Moved to the end: the diff lists users in the order of their last change.
    window.users.delete(event.user);
    window.users.set(event.user, { before: user?.before ?? !joined, after: joined });
  }

  /** The timer fired: every window that ended is told, and the timer is set for the next. */
  flush(now: number): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#stopped) return;
    const length = this.#options.window;
    for (const [room, window] of this.#windows) {
      // Timers count whole milliseconds: one may fire a fraction early.
      if (window.opened + length > now + 1) {
        this.#arm(window.opened);
        break;
      }
      this.#windows.delete(room);
      this.#tell(room, new Told(room, window.users), window.opened);
    }
  }

  /** Forgets fresh views that no window can use any more (on the heartbeat's tick). */
  upkeep(now: number): void {
    for (const [room, fresh] of this.#fresh) {
      const opened = this.#windows.get(room)?.opened ?? now;
      for (const [connection, until] of fresh) if (until < opened) fresh.delete(connection);
      if (fresh.size === 0) this.#fresh.delete(room);
    }
  }

  /** The hub stops: the timer is cleared, and nothing more is told. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#windows.clear();
    this.#fresh.clear();
    this.#modes.clear();
  }

  /** Sends the framed members of `room` what changed in the window that opened at `opened`. */
  #tell(room: string, told: Told, opened: number): void {
    const { registry, delivery, counters } = this.#parts;
    const fresh = this.#fresh.get(room);
    let sent = false;
    for (const member of registry.inRoom(room)) {
      if (!member.framed) continue;
      const mode = this.modeOf(member, room);
      if (mode === "none") continue;
      const until = fresh?.get(member);
      const full = until !== undefined && until >= opened;
      for (const frame of told.frames(mode, full)) {
        delivery.deliver(member, frame);
        sent = true;
      }
    }
    if (sent) counters.presenceDiffs++;
    if (fresh === undefined) return;
    // A view that started before this window's end no longer counts once the next one would open
    // after it.
    const now = performance.now();
    for (const [connection, until] of fresh) if (until < now) fresh.delete(connection);
    if (fresh.size === 0) this.#fresh.delete(room);
  }

  #arm(opened: number): void {
    clearTimeout(this.#timer);
    const delay = Math.max(0, opened + this.#options.window - performance.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (!this.#parts.push({ type: "presenceFlush" })) this.stop();
    }, delay);
  }
}
