/**
 * Checking the expiring identities that `identify` and `refresh` return.
 *
 * @module
 */

import type { ExpiringIdentity } from "./types.ts";

/**
 * Checks what `identify` or `refresh` returned as an expiring identity:
 * `{ user?, expiresAt }` with a string user (or none) and a finite expiry.
 * Returns it, or the error that says what is wrong.
 */
export function checkIdentity(value: unknown, hook: string): ExpiringIdentity | Error {
  if (typeof value !== "object" || value === null) {
    return new TypeError(
      `${hook} returned ${
        value === null ? "null" : `a ${typeof value}`
      }; return a user id string, undefined, { user, expiresAt } or a Response`,
    );
  }
  const { user, expiresAt } = value as { user?: unknown; expiresAt?: unknown };
  if (user !== undefined && typeof user !== "string") {
    return new TypeError(`${hook} returned a user that is a ${typeof user}, not a string`);
  }
  if (typeof expiresAt !== "number" || !Number.isFinite(expiresAt)) {
    return new TypeError(
      `${hook} returned { user, expiresAt } without expiresAt as a number of ms since the epoch`,
    );
  }
  return user === undefined ? { expiresAt } : { user, expiresAt };
}
