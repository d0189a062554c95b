/**
 * Application messages as they go out: encoded once, whatever the number of
 * recipients, in each form a recipient may need — the plain form (the
 * payload exactly as given), the `wshub.v1` tagged form, and the `wshub.v2`
 * tagged form (whose text is always JSON). Used by the hub and by the client
 * module.
 *
 * @module
 */

import { BINARY_TAG, ROOM_BINARY_TAG, Tag } from "./tags.ts";
import { encodeJson } from "./json_text.ts";
import { utf8Length } from "./utf8.ts";

/** How a {@linkcode Payload} is made: its tagged forms, who gets it, when it was queued. */
export interface PayloadInit {
  /**
   * What comes before the payload in the tagged forms: `"m"` (the default)
   * for an application message, `r<room header>` for a room publication (a
   * string for text, bytes for binary: 0x6d or 0x72 and the header).
   */
  prefix?: string | Uint8Array;
  /** The whole tagged frame, the same in every version (a join answer, a presence event). */
  frame?: string;
  /** Whether plain clients get it at all (default `true`). */
  forPlain?: boolean;
  /** When the application queued it (`performance.now()`), or -1 (default): not measured. */
  queuedAt?: number;
  /**
   * Whether `plain` is the JSON text of a value that was not a string (an
   * object, a number…). Default `false`: a string as it was given (or bytes).
   */
  json?: boolean;
  /**
   * The UTF-8 size of `plain`, when the caller already knows it (a room's
   * copy of a message whose size was computed): not computed again.
   */
  bytes?: number;
}

/**
 * One outbound message, encoded once and shared by every recipient: the form
 * for plain clients and the tagged forms for framed clients, each with its
 * size in bytes as Deno's `bufferedAmount` counts it. The tagged forms are
 * built on first use.
 *
 * - `wshub.v1`: `m` + the text (a string as it was given, any other value
 *   as JSON), or the byte 0x6d + the bytes;
 * - `wshub.v2`: the same, but the text is always JSON: a string value goes
 *   as a JSON string (`m"hi"`), so the receiver gets back the same value.
 *
 * A message published to a room carries the room in its prefix
 * ({@linkcode roomPayload}); a frame for framed clients only (a join answer,
 * a presence event) is the same in both versions ({@linkcode framedOnly}).
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
  /** Whether `plain` is the JSON text of a value that was not a string. */
  readonly json: boolean;
  readonly #prefix: string | Uint8Array;
  readonly #frame: string | undefined;
  #bytes = -1;
  #framed: string | Uint8Array | undefined;
  #framedBytes = -1;
  #framed2: string | Uint8Array | undefined;
  #framed2Bytes = -1;
  #jsonText: string | undefined;

  /** Wraps data that is already a string or bytes (see {@linkcode PayloadInit}). */
  constructor(plain: string | Uint8Array, init: PayloadInit = {}) {
    this.plain = plain;
    this.forPlain = init.forPlain ?? true;
    this.queuedAt = init.queuedAt ?? -1;
    this.json = init.json ?? false;
    this.#frame = init.frame;
    this.#prefix = init.prefix ?? (typeof plain === "string" ? Tag.Message : BINARY_PREFIX);
    if (init.bytes !== undefined) this.#bytes = init.bytes;
  }

  /** Whether this is a text message (in every form). */
  get text(): boolean {
    return typeof this.plain === "string";
  }

  /**
   * Whether the tagged form is not `m` + the text: such a payload cannot go
   * in a `b` batch (which carries bare texts), only in a `B` batch.
   */
  get tagged(): boolean {
    return this.#frame !== undefined || this.#prefix !== Tag.Message;
  }

  /** UTF-8 bytes of `plain` (computed on first use). */
  get bytes(): number {
    if (this.#bytes < 0) this.#bytes = sizeOf(this.plain);
    return this.#bytes;
  }

  /**
   * The text as `wshub.v2` carries it: JSON of the value (`plain` itself
   * when it already is JSON; a string value JSON-encoded). Text payloads only.
   */
  get jsonText(): string {
    if (this.#jsonText === undefined) {
      const plain = this.plain as string;
      this.#jsonText = this.json ? plain : JSON.stringify(plain);
    }
    return this.#jsonText;
  }

  /** The `wshub.v1` tagged form: the prefix + the text or bytes as given. */
  get framed(): string | Uint8Array {
    this.#framed ??= this.#frame ?? withPrefix(this.#prefix, this.plain);
    return this.#framed;
  }

  /**
   * UTF-8 bytes of the `wshub.v1` tagged form: the prefix's and the
   * payload's, added (the tagged form is not scanned: for a room's copy of a
   * message it would be a new string, and the payload's size is known).
   */
  get framedBytes(): number {
    if (this.#framedBytes < 0) {
      this.#framedBytes = this.#frame !== undefined
        ? sizeOf(this.#frame)
        : sizeOf(this.#prefix) + this.bytes;
    }
    return this.#framedBytes;
  }

  /** The `wshub.v2` tagged form: the prefix + the JSON text (bytes as in v1). */
  get framed2(): string | Uint8Array {
    if (this.#framed2 === undefined) {
      this.#framed2 = this.#frame !== undefined || this.json || !this.text
        ? this.framed
        : withPrefix(this.#prefix, this.jsonText);
    }
    return this.#framed2;
  }

  /** UTF-8 bytes of the `wshub.v2` tagged form. */
  get framed2Bytes(): number {
    if (this.#framed2Bytes < 0) {
      this.#framed2Bytes = this.#frame !== undefined || this.json || !this.text
        ? this.framedBytes
        : sizeOf(this.#prefix) + utf8Length(this.jsonText);
    }
    return this.#framed2Bytes;
  }
}

/** The prefix of a binary application message (never written to). */
const BINARY_PREFIX = /* @__PURE__ */ Uint8Array.of(BINARY_TAG);

function withPrefix(prefix: string | Uint8Array, data: string | Uint8Array): string | Uint8Array {
  if (typeof data === "string") return (prefix as string) + data;
  const head = prefix as Uint8Array;
  const out = new Uint8Array(head.byteLength + data.byteLength);
  out.set(head);
  out.set(data, head.byteLength);
  return out;
}

function sizeOf(data: string | Uint8Array): number {
  return typeof data === "string" ? utf8Length(data) : data.byteLength;
}

/** A frame for framed clients only (plain clients never get it): a join answer, a presence event. */
export function framedOnly(frame: string): Payload {
  return new Payload("", { frame, forPlain: false });
}

const encoder = /* @__PURE__ */ new TextEncoder();

/**
 * A message published to a room, encoded once for all its members: plain
 * clients get `message`'s payload as it is; framed clients get the room
 * first, `r<room length>:<room><offset>:<text>` (or, for bytes, the byte
 * 0x72 followed by that header in ASCII and then the bytes), the text as
 * their version carries it. `offset` is the publication's position in the
 * room's history, empty when it has none. Room names are ASCII (see
 * `isRoomName`), so their length is the same in UTF-16 units and in bytes.
 */
export function roomPayload(room: string, message: Payload, offset = ""): Payload {
  const header = `${room.length}:${room}${offset}:`;
  // The message's size, computed once for every room it is published to.
  const init = { queuedAt: message.queuedAt, json: message.json, bytes: message.bytes };
  if (typeof message.plain === "string") {
    return new Payload(message.plain, { ...init, prefix: Tag.Room + header });
  }
  const head = encoder.encode(header);
  const prefix = new Uint8Array(1 + head.byteLength);
  prefix[0] = ROOM_BINARY_TAG;
  prefix.set(head, 1);
  return new Payload(message.plain, { ...init, prefix });
}

/**
 * Encodes an application value once: strings and bytes (`Uint8Array`,
 * `ArrayBuffer`) are taken as they are, anything else is JSON-encoded (and
 * marked `json`). Bytes are not copied here; the tagged forms are copies.
 * The payload is stamped with the time (`queuedAt`): the hub's API calls
 * encode here, so that is when the application queued it.
 *
 * @throws {TypeError} If the value cannot be JSON-encoded (a cycle, a BigInt)
 * or encodes to nothing (`undefined`, a function).
 */
export function encodePayload(data: unknown): Payload {
  const queuedAt = performance.now();
  if (typeof data === "string") return new Payload(data, { queuedAt });
  if (data instanceof Uint8Array) return new Payload(data, { queuedAt });
  if (data instanceof ArrayBuffer) return new Payload(new Uint8Array(data), { queuedAt });
  return new Payload(encodeJson(data), { queuedAt, json: true });
}

/**
 * The value a stored or relayed payload stands for: its text parsed when it
 * is the JSON of a value (`json`), else the string or bytes as they are.
 */
export function payloadValue(data: string | Uint8Array, json: boolean | undefined): unknown {
  return json === true && typeof data === "string" ? JSON.parse(data) : data;
}
