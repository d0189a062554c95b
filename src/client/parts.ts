/**
 * What the core client knows of its optional parts, rooms and requests: the
 * calls it makes on them as connections open and end and as their frames
 * arrive, and what it lends them. `connect()` of `@wshub/hub/client` installs
 * both; `@wshub/hub/client/core` installs neither, so a bundle of an
 * application that uses it holds none of their code.
 *
 * @module
 */

import {
  type AnswerFrame,
  type JoinAnswer,
  type LeaveAnswer,
  type PresenceAnswer,
  RequestErrorCode,
  type RequestFailure,
  type RequestFrame,
  type RoomAnswerReader,
} from "../protocol/mod.ts";
import type { ResolvedOptions } from "./options.ts";
import type { RecoveryEvent } from "./rooms.ts";

/** The rooms, as the core client drives them (`ClientRooms`). */
export interface RoomsPart {
  /** A connection received its hello: rejoin, then send the joins asked while offline. */
  opened(send: (frame: string) => void): void;
  /** The current connection ended: the client is in no room until it rejoins. */
  lost(): void;
  /** The client is closed for good: what waits fails. */
  closed(reason: string): void;
  /** A publication with a position arrived: deliver it in order, once. */
  accept(room: string, offset: number, deliver: () => void): void;
  /** A `J` frame. */
  answered(answer: JoinAnswer): void;
  /** An `L` frame. */
  answeredLeave(answer: LeaveAnswer): void;
  /** A `W` frame. */
  answeredPresence(answer: PresenceAnswer): void;
}

/** The requests, as the core client drives them (`ClientRequests`). */
export interface RequestsPart {
  /** A connection received its hello (`json`: it speaks `wshub.v2`). */
  attach(ws: WebSocket, json: boolean): void;
  /** The connection ended: what waits for an answer fails. */
  detach(code: number, reason: string): void;
  /** A `q` frame; returns a protocol error to report. */
  received(request: RequestFrame): string | undefined;
  /** An `a` frame; returns a protocol error to report. */
  answered(answer: AnswerFrame): string | undefined;
}

/** The parts a client has; a missing one is handled by the core's defaults. */
export interface Parts {
  rooms?: RoomsPart;
  requests?: RequestsPart;
  /**
   * How the client reads `J`, `L` and `W` frames, with rooms
   * (`readRoomAnswer`); without, it leaves them unread and its bundle holds
   * none of their parsers.
   */
  readRoomAnswer?: RoomAnswerReader;
}

/** What the core client lends the parts it installs. */
export interface Core<T> {
  options: ResolvedOptions<T>;
  /** Fires an `error` event. */
  error(error: Error): void;
  /** Fires a `recovery` event. */
  recovery(event: RecoveryEvent): void;
  /** Writes on the open connection; `undefined` while none is open. */
  sender(): ((frame: string) => void) | undefined;
  /** Whether the open connection speaks `wshub.v2`. */
  json(): boolean;
}

/** Creates a client's parts, given what its core lends them; called once, before it connects. */
export type Install<T> = (core: Core<T>) => Parts;

/** How a client without a handler (or without requests at all) answers the server's requests. */
export const NO_HANDLER: RequestFailure = {
  error: RequestErrorCode.NoHandler,
  message: "This client answers no requests",
};
