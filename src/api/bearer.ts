/**
 * The HTTP API's authentication: `Authorization: Bearer <key>`, compared with
 * the configured keys in constant time (SHA-256 digests compared byte by
 * byte, every key every time), so that neither the time an answer takes nor
 * which key matched says anything about a key.
 *
 * @module
 */

import { sameBytes } from "../common/same_bytes.ts";

const encoder = new TextEncoder();

/** What a key may be: visible ASCII (it travels in a header), at least this long. */
export const MIN_KEY_LENGTH = 16;
const KEY_PATTERN = /^[\x21-\x7e]+$/;

/**
 * Checks the `key` option: a key, or a non-empty list of keys (several
 * during a rotation), each of at least {@linkcode MIN_KEY_LENGTH} visible
 * ASCII characters.
 *
 * @throws {TypeError} If it is missing or not one.
 *
 * @example
 * ```ts
 * import { checkKeys } from "./bearer.ts";
 *
 * console.log(checkKeys(crypto.randomUUID()).length); // 1
 * ```
 */
export function checkKeys(key: unknown): string[] {
  const keys = typeof key === "string" ? [key] : key;
  if (!Array.isArray(keys) || keys.length === 0) {
    throw new TypeError(
      "createApi needs a key: createApi(hub, { key }); anyone who has it can publish to every " +
        "client (generate one with crypto.randomUUID(), keep it in the environment)",
    );
  }
  for (const candidate of keys) {
    if (
      typeof candidate !== "string" || candidate.length < MIN_KEY_LENGTH ||
      !KEY_PATTERN.test(candidate)
    ) {
      throw new TypeError(
        `Invalid createApi option key: each key must be at least ${MIN_KEY_LENGTH} visible ASCII ` +
          "characters (no spaces); generate one with crypto.randomUUID()",
      );
    }
  }
  return keys as string[];
}

/**
 * Whether a request carries one of the keys. The digests of the keys are
 * computed once, on first use.
 *
 * @example
 * ```ts
 * import { Bearer } from "./bearer.ts";
 *
 * const bearer = new Bearer(["0123456789abcdef"]);
 * const req = new Request("http://x/api/info", {
 *   headers: { authorization: "Bearer 0123456789abcdef" },
 * });
 * console.log(await bearer.allows(req)); // true
 * ```
 */
export class Bearer {
  readonly #keys: readonly string[];
  #digests: Promise<Uint8Array[]> | undefined;

  constructor(keys: readonly string[]) {
    this.#keys = keys;
  }

  /** Whether `req`'s `Authorization` header is `Bearer <one of the keys>`. */
  async allows(req: Request): Promise<boolean> {
    const header = req.headers.get("authorization");
    const match = header === null ? null : /^bearer +(\S+) *$/i.exec(header);
    // Without a token, a digest is still computed and compared: the same work either way.
    const offered = await digest(match?.[1] ?? "");
    this.#digests ??= Promise.all(this.#keys.map(digest));
    let allowed = false;
    for (const key of await this.#digests) allowed = sameBytes(offered, key) || allowed;
    return allowed && match !== null;
  }
}

async function digest(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}
