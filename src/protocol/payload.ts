/**
 * Application messages as they go out: encoded once, whatever the number of
 * recipients, in the plain form (the payload exactly as given) and the tagged
 * form for framed connections. Used by the hub and by the client module.
 *
 * @module
 */

import { BINARY_TAG, Tag } from "./tags.ts";
import { utf8Length } from "./utf8.ts";

/**
 * One outbound message, encoded once and shared by every recipient: the form
 * for plain clients and the tagged form for framed clients, each with its
 * size in bytes as Deno's `bufferedAmount` counts it.
 */
export class Payload {
  /** The payload as sent to plain clients. */
  readonly plain: string | Uint8Array;
  #bytes = -1;
  #framed: string | Uint8Array | undefined;

  /** Wraps data that is already a string or bytes. */
  constructor(plain: string | Uint8Array) {
    this.plain = plain;
  }

  /** Whether this is a text message. */
  get text(): boolean {
    return typeof this.plain === "string";
  }

  /** UTF-8 bytes of `plain` (computed on first use). */
  get bytes(): number {
    if (this.#bytes < 0) {
      const plain = this.plain;
      this.#bytes = typeof plain === "string" ? utf8Length(plain) : plain.byteLength;
    }
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
}

/**
 * Encodes an application value once: strings and bytes (`Uint8Array`,
 * `ArrayBuffer`) are taken as they are, anything else is JSON-encoded. Bytes
 * are not copied here; the tagged form is a copy.
 *
 * @throws {TypeError} If the value cannot be JSON-encoded (a cycle, a BigInt)
 * or encodes to nothing (`undefined`, a function).
 */
export function encodePayload(data: unknown): Payload {
  if (typeof data === "string") return new Payload(data);
  if (data instanceof Uint8Array) return new Payload(data);
  if (data instanceof ArrayBuffer) return new Payload(new Uint8Array(data));
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
      `Cannot send this message: a ${typeof data} has no JSON form; ` +
        "send a string, a Uint8Array or a JSON-serialisable value",
    );
  }
  return new Payload(json);
}
