/**
 * What the inspector's routes answer, as JSON: the shapes its page reads
 * (`page/app.ts` imports these types; nothing here runs).
 *
 * @module
 */

import type { BackplaneStats, BackplaneStatus } from "../server/backplane.ts";
import type { HubStats } from "../server/stats.ts";
import type { PresenceEntry } from "../server/types.ts";

/** One point of the overview's charts: rates over the interval before `t`. */
export interface Sample {
  /** When it was taken (ms since the epoch). */
  t: number;
  /** Live connections then. */
  connections: number;
  /** Application messages received per second. */
  messagesIn: number;
  /** Messages queued for clients per second (one per recipient). */
  messagesOut: number;
  /** Bytes handed to sockets per second. */
  bytesOut: number;
}

/** One line of the event log. */
export interface LogEvent {
  /** Its number: ascending, so that a page drops what it has seen. */
  seq: number;
  /** When it happened (ms since the epoch). */
  t: number;
  /**
   * `connect`, `disconnect`, `join`, `leave`, `refused` (an upgrade answered
   * with `status`), `joinRefused` (`error` says why), or `watch` (the
   * inspector started listening: nothing before it was recorded since the
   * last page closed).
   */
  type: "connect" | "disconnect" | "join" | "leave" | "refused" | "joinRefused" | "watch";
  id?: string;
  user?: string;
  framed?: boolean;
  address?: string;
  room?: string;
  code?: number;
  reason?: string;
  byHub?: boolean;
  status?: number;
  error?: string;
}

/** The backplane as this process sees it. */
export interface BackplaneInfo {
  status: BackplaneStatus;
  /** This process's name on the bus, when the backplane has one. */
  node?: string;
  /** This process's traffic on the bus and the last round trip (ms). */
  stats?: BackplaneStats;
}

/** The delivery-wait histogram (`wshub_delivery_wait_seconds`): counts per bucket, not cumulative. */
export interface Waits {
  /** Observations per bucket; the last one is above every bound. */
  counts: number[];
  /** The sum of the observations, in seconds. */
  sum: number;
}

/** What the live stream sends every interval (`event: tick`). */
export interface Tick {
  t: number;
  /** `hub.stats()` now. */
  stats: HubStats;
  /** The rates since the previous tick (`undefined` on the first one after a pause). */
  rates?: Sample;
  waits: Waits;
  backplane?: BackplaneInfo;
  /** Events since the previous tick (the newest, at most a few hundred). */
  events: LogEvent[];
  /** Events since the previous tick that were left out (too many in one interval). */
  skipped: number;
}

/** The first event of the live stream (`event: hello`). */
export interface Hello {
  /** Whether actions are refused (`readonly: true`). */
  readonly: boolean;
  /** The interval between ticks, in ms. */
  interval: number;
  /** The delivery-wait histogram's bucket bounds, in seconds. */
  buckets: readonly number[];
  /** Whether the hub has a backplane. */
  backplane: boolean;
  /** The charts' points so far (the last minutes). */
  series: Sample[];
  /** The event log so far (the newest few hundred). */
  events: LogEvent[];
  /** The state now. */
  tick: Tick;
}

/** One row of the client table. */
export interface ClientRow {
  id: string;
  user?: string;
  framed: boolean;
  protocol: string;
  /** As the application passed it to `hub.upgrade(req, { address })`. */
  address?: string;
  /** When it connected (ms since the epoch). */
  connectedAt: number;
  /** Its rooms (the first few) and how many there are. */
  rooms: string[];
  roomCount: number;
  /** Its last round trip, in ms (framed clients). */
  rtt?: number;
  /** Messages waiting in its send queue. */
  queued: number;
  /** Bytes waiting in Deno's buffer for its socket. */
  buffered: number;
  /** Bytes handed to its socket so far. */
  sent: number;
  /** Messages dropped by the `"drop-oldest"` policy. */
  dropped: number;
  /** When its credential expires (ms since the epoch), when it has one. */
  expiresAt?: number;
}

/** How the client table is sorted. */
export type ClientSort = "connected" | "queued" | "buffered" | "rtt";

/** A page of clients (`GET api/clients`). */
export interface ClientsPage {
  /** Clients matching the filter. */
  total: number;
  offset: number;
  limit: number;
  sort: ClientSort;
  order: "asc" | "desc";
  rows: ClientRow[];
}

/** A room's position in its stream (rooms with history). */
export interface RoomPosition {
  epoch: string;
  offset: number;
}

/** One row of the room table. */
export interface RoomRow {
  name: string;
  /** This process's connections in it. */
  members: number;
  /** This process's identified users in it. */
  users: number;
  /** Whether it keeps history, and its position (`null`: it keeps none or it could not be read). */
  history: RoomPosition | null;
  /** Users in it across the cluster, from the backplane (only with one that is up). */
  clusterUsers?: number;
}

/** How the room table is sorted. */
export type RoomSort = "members" | "name";

/** A page of rooms (`GET api/rooms`). */
export interface RoomsPage {
  total: number;
  offset: number;
  limit: number;
  sort: RoomSort;
  order: "asc" | "desc";
  rows: RoomRow[];
}

/** One publication to a room, as the inspector shows it. */
export interface PublicationView {
  /** Its offset in the room's stream (0: none). */
  offset: number;
  /** The start of its text (JSON for values), or `undefined` for bytes. */
  preview?: string;
  /** Its size: bytes for binary data, UTF-16 units for text. */
  size: number;
  /** When this process delivered it (publications seen by the tap). */
  t?: number;
  /** How many members it had here then (publications seen by the tap). */
  members?: number;
}

/** One room in detail (`GET api/room?name=`). */
export interface RoomDetail {
  name: string;
  /** This process's members (the first ones) and how many there are. */
  members: ClientRow[];
  memberCount: number;
  /** This process's presence: identified users and their connections here. */
  presence: PresenceEntry[];
  presenceCount: number;
  /** Presence across the cluster, from the backplane (with a backplane only). */
  cluster?: { users: number; connections: number; error?: string };
  /** Its stream (rooms with history): position and last publications. */
  history?: RoomPosition & { publications: PublicationView[]; error?: string };
  /** Publications this process delivered to it since a page was opened (newest last). */
  recent: PublicationView[];
}

/** What an action answers. */
export interface ActionResult {
  ok: boolean;
  /** Clients closed, members delivered to, whether it left… */
  count?: number;
  error?: string;
}
