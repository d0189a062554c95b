/**
 * The inspector's authentication: HTTP Basic against one user and password
 * (compared in constant time), or the application's own check.
 *
 * @module
 */

import { sameBytes } from "../common/same_bytes.ts";

/**
 * Who may use the inspector: one user and password for HTTP Basic
 * authentication (the browser asks for them), or a function that decides
 * from the request (a session cookie, a header set by a proxy); `true`
 * lets it in.
 *
 * @example Basic, with the password from the environment
 * ```ts
 * import type { InspectorAuth } from "@wshub/hub/inspector";
 *
 * const auth: InspectorAuth = { user: "admin", password: Deno.env.get("INSPECTOR_PASSWORD") ?? "" };
 * console.log(typeof auth);
 * ```
 */
export type InspectorAuth =
  | { user: string; password: string }
  | ((req: Request) => boolean | Promise<boolean>);

/** Decides whether a request may use the inspector. */
export type Gate = (req: Request) => boolean | Promise<boolean>;

const encoder = new TextEncoder();

/**
 * The check of `auth`.
 *
 * @throws {TypeError} If `auth` is missing or neither a function nor `{ user, password }`.
 * @throws {RangeError} If the password is empty, or the user contains a colon.
 */
export function gate(auth: InspectorAuth | undefined): Gate {
  if (typeof auth === "function") {
    return async (req) => {
      try {
        return (await auth(req)) === true;
      } catch {
        return false; // a check that fails lets nobody in
      }
    };
  }
  if (auth === null || typeof auth !== "object") {
    throw new TypeError(
      "createInspector needs auth: { user, password } for HTTP Basic, or (req) => boolean",
    );
  }
  const { user, password } = auth;
  if (typeof user !== "string" || typeof password !== "string") {
    throw new TypeError("The inspector's auth.user and auth.password must be strings");
  }
  if (password === "") throw new RangeError("The inspector's auth.password must not be empty");
  if (user.includes(":")) throw new RangeError("The inspector's auth.user must not contain ':'");
  const expected = encoder.encode(`${user}:${password}`);
  return (req) => {
    const given = basicCredentials(req.headers.get("authorization"));
    return given !== undefined && sameBytes(given, expected);
  };
}

/** The `user:password` bytes of a Basic `Authorization` header, or `undefined`. */
function basicCredentials(header: string | null): Uint8Array | undefined {
  const match = header === null ? null : /^Basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(header);
  if (match === null) return undefined;
  try {
    return Uint8Array.from(atob(match[1]), (char) => char.charCodeAt(0));
  } catch {
    return undefined;
  }
}
