/**
 * The one buffer helper of `src/redis/`: node-redis takes strings or
 * `Buffer`s, the hub hands out `Uint8Array`s.
 *
 * @module
 */

import { Buffer } from "node:buffer";

/** A `Buffer` view of bytes, without copying. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
