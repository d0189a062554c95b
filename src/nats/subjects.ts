/**
 * Names on NATS: room and user names become subject tokens and key-value
 * keys that are valid for every name the hub allows.
 *
 * A NATS subject is tokens separated by `.`; `*` and `>` are wildcards, and
 * whitespace is not allowed. Key-value keys allow `A-Z a-z 0-9 - _ / = .`.
 * Room names allow `. : @ / # + = ~ !` besides letters, digits, `_` and `-`,
 * and user ids may hold anything. So a name is escaped: ASCII letters,
 * digits and `-` stay as they are; every other byte of its UTF-8 form
 * (`_` included) becomes `_` and two upper-case hex digits (`chat:42` →
 * `chat_3A42`, `a.b` → `a_2Eb`, `_` → `_5F`). A name that would escape to
 * more than {@linkcode MAX_ESCAPED} characters, or to nothing (the empty
 * string), is hashed instead: `=` and the SHA-256 of its UTF-8 form in
 * base64url (44 characters). Escaped tokens never hold `=`, so the two
 * forms cannot meet; each token is one subject token and one key part.
 *
 * @module
 */

import { createHash } from "node:crypto";

/** The longest escaped token; longer names are hashed. */
export const MAX_ESCAPED = 256;

const encoder = new TextEncoder();
const HEX = "0123456789ABCDEF";

/** The subject token (and key part) that stands for `name`. */
export function token(name: string): string {
  let out = "";
  for (const byte of encoder.encode(name)) {
    const kept = (byte >= 0x30 && byte <= 0x39) || // 0-9
      (byte >= 0x41 && byte <= 0x5a) || // A-Z
      (byte >= 0x61 && byte <= 0x7a) || // a-z
      byte === 0x2d; // -
    out += kept ? String.fromCharCode(byte) : `_${HEX[byte >> 4]}${HEX[byte & 15]}`;
    if (out.length > MAX_ESCAPED) break;
  }
  if (out.length > 0 && out.length <= MAX_ESCAPED) return out;
  return "=" + createHash("sha256").update(encoder.encode(name)).digest("base64url");
}
