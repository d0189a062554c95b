/**
 * Application messages as they go out: encoded once, whatever the number of
 * recipients, in the plain form (the payload exactly as given) and the tagged
 * form for framed connections. Used by the hub and by the client module.
 *
 * @module
 */

import { BINARY_TAG, ROOM_BINARY_TAG, Tag } from "./tags.ts";
import { utf8Length } from "./utf8.ts";

/**
 * One outbound message, encoded once and shared by every recipient: the form
 * for plain clients and the tagged form for framed clients, each with its
 * size in bytes as Deno's `bufferedAmount` counts it.
 *
 * An application message's tagged form is `m` + the text (or the byte 0x6d +
 * the bytes). A message published to a room carries the room in its tagged
 * form instead ({@linkcode roomPayload}); a frame for framed clients only (a
 * join answer, a presence event) has no plain form ({@linkcode framedOnly}).
 */
export class Payload {
  /** The payload as sent to plain clients (empty for a frame plain clients never get). */
  readonly plain: string | Uint8Array;
  /** Whether plain clients get it at all. */
  readonly forPlain: boolean;
  /**
   * When the application queued it (`performance.now()` when the API call
   * encoded it, see {@linkcode encodePayload}), for the hub's delivery-wait
   * histogram; -1 for the hub's own frames, whose wait is not measured.
   */
  readonly queuedAt: number;
  #bytes = -1;
  #framed: string | Uint8Array | undefined;
  #framedBytes = -1;
  readonly #tagged: boolean;

  /**
   * Wraps data that is already a string or bytes. `framed`, when given, is
   * the form for framed clients (otherwise `m` + `plain`); `queuedAt`, when
   * the application queued it (-1: not measured).
   */
  constructor(
    plain: string | Uint8Array,
    framed?: string | Uint8Array,
    forPlain = true,
    queuedAt = -1,
  ) {
    this.plain = plain;
    this.#framed = framed;
    this.#tagged = framed !== undefined;
    this.forPlain = forPlain;
    this.queuedAt = queuedAt;
  }

  /** Whether this is a text message (in both forms). */
  get text(): boolean {
    return typeof this.plain === "string";
  }

  /**
   * Whether the tagged form is not `m` + the text: such a payload cannot go
   * in a `b` batch (which carries bare texts), only in a `B` batch.
   */
  get tagged(): boolean {
    return this.#tagged;
  }

  /** UTF-8 bytes of `plain` (computed on first use). */
  get bytes(): number {
    if (this.#bytes < 0) this.#bytes = sizeOf(this.plain);
    return this.#bytes;
  }

  /** The tagged form for framed clients, built on first use: `m` + text, or 0x6d + bytes. */
  get framed(): string | Uint8Array {
    if (this.#framed === undefined) {
      const plain = this.plain;
      if (typeof plain === "string") {
        this.#framed = Tag.Message + plain;
      } else {
        const tagged = new Uint8Array(plain.byteLength + 1);
        tagged[0] = BINARY_TAG;
        tagged.set(plain, 1);
        this.#framed = tagged;
      }
    }
    return this.#framed;
  }

  /** UTF-8 bytes of the tagged form. */
  get framedBytes(): number {
    if (this.#framedBytes < 0) {
      this.#framedBytes = this.#tagged ? sizeOf(this.#framed!) : this.bytes + 1;
    }
    return this.#framedBytes;
  }
}

function sizeOf(data: string | Uint8Array): number {
  return typeof data === "string" ? utf8Length(data) : data.byteLength;
}

/** A frame for framed clients only (plain clients never get it): a join answer, a presence event. */
export function framedOnly(frame: string): Payload {
  return new Payload("", frame, false);
}

const encoder = new TextEncoder();

/**
 * A message published to a room, encoded once for all its members: plain
 * clients get `message`'s payload as it is; framed clients get the room
 * first, `r<room length>:<room><offset>:<text>` (or, for bytes, the byte
 * 0x72 followed by that header in ASCII and then the bytes). `offset` is the
 * publication's position in the room's history, empty when it has none.
 * Room names are ASCII (see `isRoomName`), so their length is the same in
 * UTF-16 units and in bytes.
 */
export function roomPayload(room: string, message: Payload, offset = ""): Payload {
  const header = `${room.length}:${room}${offset}:`;
  const plain = message.plain;
  if (typeof plain === "string") {
    return new Payload(plain, Tag.Room + header + plain, true, message.queuedAt);
  }
  const head = encoder.encode(header);
  const framed = new Uint8Array(1 + head.byteLength + plain.byteLength);
  framed[0] = ROOM_BINARY_TAG;
  framed.set(head, 1);
  framed.set(plain, 1 + head.byteLength);
  return new Payload(plain, framed, true, message.queuedAt);
}

/**
 * Encodes an application value once: strings and bytes (`Uint8Array`,
 * `ArrayBuffer`) are taken as they are, anything else is JSON-encoded. Bytes
 * are not copied here; the tagged form is a copy. The payload is stamped
 * with the time (`queuedAt`): the hub's API calls encode here, so that is
 * when the application queued it.
 *
 * @throws {TypeError} If the value cannot be JSON-encoded (a cycle, a BigInt)
 * or encodes to nothing (`undefined`, a function).
 */
export function encodePayload(data: unknown): Payload {
  return new Payload(encodeValue(data), undefined, true, performance.now());
}

function encodeValue(data: unknown): string | Uint8Array {
  if (typeof data === "string") return data;
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  let json: string | undefined;
  try {
    json = JSON.stringify(data);
  } catch (error) {
    throw new TypeError(
      `Cannot send this message: JSON.stringify failed (${(error as Error).message}); ` +
        "send a string, a Uint8Array or a JSON-serialisable value",
    );
  }
  if (json === undefined) {
    throw new TypeError(
      `Cannot send this message: ${describe(data)} has no JSON form; ` +
        "send a string, a Uint8Array or a JSON-serialisable value",
    );
  }
  return json;
}

/** A value with no JSON form, as a message names it: "undefined", "a function", "a symbol". */
function describe(data: unknown): string {
  return data === undefined ? "undefined" : `a ${typeof data}`;
}
