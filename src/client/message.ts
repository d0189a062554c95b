/**
 * What the client sends, encoded once in the forms either version of the
 * subprotocol needs: a lighter counterpart of the hub's `Payload`, without
 * the byte counts and timestamps only the hub reads.
 *
 * @module
 */

import { encodeJson } from "../protocol/json_text.ts";
import { BINARY_TAG, TAG_MESSAGE } from "../protocol/tags.ts";

/** One message the client sends: its body and its tagged frame, in each version. */
export interface OutgoingMessage {
  /** Whether it is text (a string, or the JSON of another value), not bytes. */
  readonly text: boolean;
  /** The body as `wshub.v1` carries it: a string as given, another value as JSON, or the bytes. */
  readonly plain: string | Uint8Array;
  /** The text as `wshub.v2` carries it: always JSON (a string JSON-encoded). Text only. */
  readonly jsonText: string;
  /** The `wshub.v1` frame: `m` + the text, or the byte 0x6d + the bytes. */
  readonly framed: string | Uint8Array;
  /** The `wshub.v2` frame: `m` + the JSON text (bytes as in v1). */
  readonly framed2: string | Uint8Array;
}

/**
 * Encodes an application value: a string as given, bytes (`Uint8Array`,
 * `ArrayBuffer`, copied into the frame), anything else as JSON.
 *
 * @throws {TypeError} If the value cannot be JSON-encoded (a cycle, a BigInt)
 * or encodes to nothing (`undefined`, a function).
 */
export function encodeMessage(data: unknown): OutgoingMessage {
  if (data instanceof ArrayBuffer) data = new Uint8Array(data);
  if (data instanceof Uint8Array) {
    const framed = new Uint8Array(data.byteLength + 1);
    framed[0] = BINARY_TAG;
    framed.set(data, 1);
    return { text: false, plain: data, jsonText: "", framed, framed2: framed };
  }
  const string = typeof data === "string";
  const plain = string ? data as string : encodeJson(data);
  const jsonText = string ? JSON.stringify(data) : plain;
  return {
    text: true,
    plain,
    jsonText,
    framed: TAG_MESSAGE + plain,
    framed2: TAG_MESSAGE + jsonText,
  };
}
