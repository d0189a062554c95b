/**
 * The frames of expiring credentials (`wshub.v2`): the hub asking for a
 * fresh credential and saying how a refresh went (`t`, server to client),
 * and the client sending one (`T`, client to server). Bodies are JSON
 * objects; unknown fields are ignored.
 *
 * @module
 */

import { parseJsonObject } from "./json_object.ts";
import { TAG_CREDENTIAL, TAG_FRESH_CREDENTIAL } from "./tags.ts";

/** The longest credential a `T` frame may carry, in UTF-16 code units. */
export const MAX_CREDENTIAL_LENGTH = 8192;

/**
 * What the hub tells a client about its credential (`t`): that it expires
 * at `expiresAt` and a fresh one is wanted (no other field), that a fresh
 * one was accepted (`refreshed`, with the new expiry), or that one was
 * refused (`error`, with the expiry that still holds).
 */
export interface CredentialNotice {
  /** When the connection's credential expires, in ms since the epoch. */
  expiresAt: number;
  /** A fresh credential was accepted: `expiresAt` is the new expiry. */
  refreshed?: boolean;
  /** Why a fresh credential was refused: `refused`, `busy`, `not_expiring`, `no_refresh`. */
  error?: string;
  /** What went wrong, for people; with `error`. */
  message?: string;
}

/** Builds a `t` frame. */
export function encodeCredentialNotice(notice: CredentialNotice): string {
  return TAG_CREDENTIAL + JSON.stringify(notice);
}

/** Builds a `T` frame: a fresh credential. */
export function encodeCredential(token: string): string {
  return TAG_FRESH_CREDENTIAL + JSON.stringify({ token });
}

/** Reads the body of a `t` frame. */
export function parseCredentialNotice(body: string): CredentialNotice | string {
  const value = parseJsonObject(body, "the frame's body");
  if (typeof value === "string") return value;
  if (typeof value.expiresAt !== "number" || !Number.isFinite(value.expiresAt)) {
    return "a credential notice needs expiresAt, a number";
  }
  const notice: CredentialNotice = { expiresAt: value.expiresAt };
  if (value.refreshed === true) notice.refreshed = true;
  if (typeof value.error === "string") {
    notice.error = value.error;
    notice.message = typeof value.message === "string" ? value.message : value.error;
  }
  return notice;
}

/** Reads the body of a `T` frame: the credential, or what is wrong. */
export function parseCredential(body: string): string | { problem: string } {
  const value = parseJsonObject(body, "the frame's body");
  if (typeof value === "string") return { problem: value };
  const token = value.token;
  if (typeof token !== "string" || token.length === 0) {
    return { problem: "a credential frame needs a token, a non-empty string" };
  }
  if (token.length > MAX_CREDENTIAL_LENGTH) {
    return { problem: `a credential has at most ${MAX_CREDENTIAL_LENGTH} characters` };
  }
  return token;
}
