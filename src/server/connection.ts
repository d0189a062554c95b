/**
 * One connection: the hub's private record of it ({@linkcode Connection}).
 * Applications never see it; they get its {@linkcode Client} view
 * (`client_view.ts`), which holds the record in a private field.
 *
 * Each piece of a connection's state has one owner: its lifecycle (`state`,
 * `closing`) changes only through the methods below, called by the loop's
 * parts; its heartbeat state lives in its {@linkcode Liveness} (owned by the
 * heartbeat, told by the reader what arrived); its send queue in its
 * {@linkcode Writer}; the rooms it is in are kept here by the registry.
 *
 * @module
 */

import type { HandOffs } from "./hand_offs.ts";
import { Liveness } from "./liveness.ts";
import type { TokenBucket } from "./rate_limit.ts";
import type { Client } from "./types.ts";
import { Writer, type WriterOptions } from "./writer.ts";

/**
 * An expiring credential's state: when it expires, when it was granted (the
 * hub asks for a fresh one a third of its lifetime before it expires), and
 * whether a fresh one was asked for or is being checked.
 */
export interface Credential {
  /** When it expires, in ms since the epoch. */
  expiresAt: number;
  /** When it was granted (or last refreshed), in ms since the epoch. */
  grantedAt: number;
  /** Whether the hub asked the client for a fresh one since. */
  asked: boolean;
  /** Whether a fresh one is being checked (`refresh` has not settled). */
  checking: boolean;
}

/** The lifecycle of a connection, as the hub sees it. */
export type ConnectionState = "connecting" | "open" | "closed";

/** What the hub knows of a connection when it accepts it. */
export interface ConnectionInit {
  /** The user it belongs to, or `undefined` when anonymous. */
  user: string | undefined;
  /** Whether it speaks `wshub.v1` or `wshub.v2`. */
  framed: boolean;
  /** Whether it speaks `wshub.v2`: its application texts are JSON, both ways. */
  json: boolean;
  /** The subprotocol echoed, or `""`. */
  protocol: string;
  /** Rooms to join as it registers. */
  rooms: readonly string[];
  /** When its credential expires, in ms since the epoch (`undefined`: never). */
  expiresAt?: number;
  /** The peer's address, as the application gave it (`UpgradeOptions.address`), for display. */
  address?: string;
}

const NO_ROOMS: ReadonlySet<string> = new Set();

/** The hub's record of one connection. Never handed to applications. */
export class Connection {
  readonly id: string = crypto.randomUUID();
  readonly user: string | undefined;
  readonly framed: boolean;
  /** Whether it speaks `wshub.v2`: its application texts are JSON, both ways. */
  readonly json: boolean;
  readonly protocol: string;
  readonly connectedAt: number = Date.now();
  /** Rooms to join as it registers (from `hub.upgrade(req, { rooms })`). */
  readonly initialRooms: readonly string[];
  /** The peer's address, as the application gave it (`UpgradeOptions.address`), for display. */
  readonly address: string | undefined;
  readonly socket: WebSocket;
  readonly writer: Writer;
  readonly liveness: Liveness = new Liveness();
  /** The public view handed to applications. */
  readonly client: Client<unknown>;
  /** The rooms it is in; written by the registry only (`undefined`: none yet). */
  roomSet: Set<string> | undefined;
  /** Its credential, when it expires (see `credentials.ts`; `undefined`: it does not). */
  credential: Credential | undefined;
  /**
   * Its budgets, made by `rooms.ts` on first use: the joins and leaves it
   * may ask for, and the publications it may recover.
   */
  budgets: { roomChanges: TokenBucket; recoveries: TokenBucket } | undefined;
  /** Whether its writer is listed to be flushed at the end of the batch; written by delivery only. */
  flushPending = false;
  #state: ConnectionState = "connecting";
  #closing = false;
  #closedWith: { code: number; reason: string } | undefined;

  /**
   * `view` makes the application's view of it (see `client_view.ts`);
   * `handOffs`, when given, counts what its writer hands to the socket.
   */
  constructor(
    socket: WebSocket,
    init: ConnectionInit,
    writer: WriterOptions,
    view: (connection: Connection) => Client<unknown>,
    handOffs?: HandOffs,
  ) {
    this.socket = socket;
    this.user = init.user;
    this.framed = init.framed;
    this.json = init.json;
    this.protocol = init.protocol;
    this.initialRooms = init.rooms;
    if (init.expiresAt !== undefined) {
      this.credential = {
        expiresAt: init.expiresAt,
        grantedAt: Date.now(),
        asked: false,
        checking: false,
      };
    }
    this.address = init.address;
    this.writer = new Writer(socket, writer, handOffs);
    this.client = view(this);
  }

  /** Where the connection is in its life. */
  get state(): ConnectionState {
    return this.#state;
  }

  /** Whether a close was asked for (or the connection is closed). */
  get closing(): boolean {
    return this.#closing;
  }

  /** Whether it is registered and not being closed. */
  get open(): boolean {
    return this.#state === "open" && !this.#closing;
  }

  /** The rooms it is in now (a read-only view; empty when none). */
  get rooms(): ReadonlySet<string> {
    return this.roomSet ?? NO_ROOMS;
  }

  /**
   * Records that a close was asked for. Returns `false` when one was already
   * asked for, or the connection is closed: the caller then does nothing.
   */
  requestClose(): boolean {
    if (this.#closing || this.#state === "closed") return false;
    this.#closing = true;
    return true;
  }

  /** The socket opened and the loop registered it. */
  markOpen(): void {
    this.#state = "open";
  }

  /** The close code and reason it was unregistered with (`undefined` until then). */
  get closedWith(): { code: number; reason: string } | undefined {
    return this.#closedWith;
  }

  /**
   * The loop unregistered it with `code` and `reason` (or refused it).
   * Returns whether it had been open.
   */
  markClosed(code: number, reason: string): boolean {
    const wasOpen = this.#state === "open";
    this.#state = "closed";
    this.#closing = true;
    this.#closedWith = { code, reason };
    return wasOpen;
  }
}
