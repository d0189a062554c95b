/**
 * Expiring credentials: asking a `wshub.v2` client for a fresh credential
 * before its own expires, checking the one it sends with the `refresh`
 * option, closing a connection whose credential expired and was not
 * refreshed (4004), and revoking a user's connections
 * (`hub.disconnectUser`, 4003 by default).
 *
 * No timer per connection: the heartbeat's shared tick asks and closes
 * (see {@linkcode credentialDue}), at most one tick late. A `refresh` that
 * does not settle within `identifyTimeout` counts as refused. One refresh
 * is checked at a time per connection; a client cannot move its own expiry
 * without `refresh` accepting a credential.
 *
 * @module
 */

import {
  CloseCode,
  type CredentialNotice,
  encodeCredentialNotice,
  framedOnly,
} from "../protocol/mod.ts";
import type { Connection, Credential } from "./connection.ts";
import { callbackError, type Report } from "./errors.ts";
import { type Push, requestClose } from "./events.ts";
import { checkIdentity } from "./identity.ts";
import type { Counters } from "./stats.ts";
import type { ExpiringIdentity } from "./types.ts";

/** The longest a hub waits before expiry to ask for a fresh credential, in ms. */
export const MAX_REFRESH_LEAD = 30_000;

/**
 * When the hub asks for a fresh credential: a third of the credential's
 * lifetime (from when it was granted or last refreshed) before it expires,
 * at most {@linkcode MAX_REFRESH_LEAD} — room for a slow `getToken`.
 */
export function refreshLead(credential: Credential): number {
  return Math.min(MAX_REFRESH_LEAD, (credential.expiresAt - credential.grantedAt) / 3);
}

/** When the heartbeat's tick looks at credentials, in ms. */
export interface CredentialTiming {
  /** `expiredCloseDelay`: how long an expired credential is kept. */
  delay: number;
  /** The tick's period: a fresh credential is asked for one tick early, since the next check may be a tick late. */
  tick: number;
  /** Whether to ask at all: only a hub with a `refresh` hook does. */
  ask: boolean;
}

/**
 * What the heartbeat's tick must do about a connection's credential at
 * `now` (ms since the epoch): close it (expired for `delay` ms), ask for a
 * fresh one (a `wshub.v2` connection within the lead, not asked yet, on a
 * hub with `refresh`), or nothing.
 */
export function credentialDue(
  connection: Connection,
  now: number,
  timing: CredentialTiming,
): "close" | "ask" | undefined {
  const credential = connection.credential;
  if (credential === undefined) return undefined;
  if (now >= credential.expiresAt + timing.delay) return "close";
  if (
    timing.ask && connection.json && !credential.asked && !credential.checking &&
    now + timing.tick >= credential.expiresAt - refreshLead(credential)
  ) {
    credential.asked = true;
    return "ask";
  }
  return undefined;
}

/** The `t` frame that asks a client for a fresh credential. */
export function askFrame(credential: Credential): string {
  return encodeCredentialNotice({ expiresAt: credential.expiresAt });
}

/** The refresh hook, bound to the hub's client views. */
export type RefreshHook = (token: string, connection: Connection) =>
  | ExpiringIdentity
  | Promise<ExpiringIdentity>;

/** How credentials are checked. */
export interface CredentialsConfig {
  refresh: RefreshHook | undefined;
  /** How long `refresh` may take. */
  identifyTimeout: number;
}

/** Fresh credentials being checked, and revocations. */
export class Credentials {
  readonly #config: CredentialsConfig;
  readonly #push: Push;
  readonly #report: Report;
  readonly #counters: Counters;

  constructor(config: CredentialsConfig, push: Push, report: Report, counters: Counters) {
    this.#config = config;
    this.#push = push;
    this.#report = report;
    this.#counters = counters;
  }

  /**
   * A client sent a fresh credential (`T`): checked with `refresh` unless
   * it cannot be (a `wshub.v1` or non-expiring connection, no `refresh`, one
   * already being checked), then answered (`t`) when the check settles.
   */
  arrived(connection: Connection, token: string): void {
    const credential = connection.credential;
    const refuse = (error: string, message: string) => {
      this.#counters.refreshesRefused++;
      this.#notice(connection, { expiresAt: credential?.expiresAt ?? 0, error, message });
    };
    if (credential === undefined) {
      return refuse("not_expiring", "this connection's credential does not expire");
    }
    const refresh = this.#config.refresh;
    if (refresh === undefined) {
      return refuse("no_refresh", "this server does not refresh credentials; reconnect instead");
    }
    if (credential.checking) {
      return refuse("busy", "a fresh credential is already being checked; wait for its answer");
    }
    credential.checking = true;
    let outcome: ExpiringIdentity | Promise<ExpiringIdentity>;
    try {
      outcome = refresh(token, connection);
    } catch (error) {
      return this.checked(connection, error instanceof Error ? error : new Error(String(error)));
    }
    if (!(outcome instanceof Promise)) return this.checked(connection, outcome);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = this.#config.identifyTimeout;
    const late = new Promise<Error>((resolve) => {
      timer = setTimeout(() => resolve(new RefreshTimeout(timeout)), timeout);
    });
    outcome.catch(() => {}); // it may still fail after the timeout; nobody waits for it then
    Promise.race([outcome, late]).then(
      (result) => result,
      (error) => error instanceof Error ? error : new Error(String(error)),
    ).then((result) => {
      clearTimeout(timer);
      this.#push({ type: "credentialChecked", connection, outcome: result });
    });
  }

  /**
   * A fresh credential was checked: the expiry moves (`t` with `refreshed`),
   * or it is refused (`t` with an error; the connection keeps its old expiry),
   * or, when it names another user, the connection is closed (4403).
   */
  checked(connection: Connection, outcome: unknown): void {
    const credential = connection.credential;
    if (credential === undefined || connection.state !== "open") return;
    credential.checking = false;
    // A refresh that throws or rejects refuses the credential: normal, counted, not reported.
    // A late one, or one that returns something else than an identity, is a fault: reported.
    const identity = outcome instanceof Error ? outcome : checkIdentity(outcome, "refresh");
    if (identity instanceof Error) {
      this.#counters.refreshesRefused++;
      if (identity instanceof RefreshTimeout || !(outcome instanceof Error)) {
        this.#report(callbackError("refresh", identity), connection);
      }
      return this.#notice(connection, {
        expiresAt: credential.expiresAt,
        error: "refused",
        message: "the fresh credential was refused",
      });
    }
    if (identity.user !== connection.user) {
      this.#counters.refreshesRefused++;
      return requestClose(
        this.#push,
        connection,
        CloseCode.Forbidden,
        "a refresh named another user",
        true,
      );
    }
    const now = Date.now();
    if (identity.expiresAt <= now) {
      this.#counters.refreshesRefused++;
      return this.#notice(connection, {
        expiresAt: credential.expiresAt,
        error: "refused",
        message: "the fresh credential has expired already",
      });
    }
    credential.expiresAt = identity.expiresAt;
    credential.grantedAt = now;
    credential.asked = false;
    this.#counters.refreshes++;
    this.#notice(connection, { expiresAt: identity.expiresAt, refreshed: true });
  }

  /**
   * Closes every given connection of a revoked user with `code` (4003 by
   * default) and counts them. Returns how many were open.
   */
  revoke(connections: Iterable<Connection>, code: number, reason: string): number {
    let count = 0;
    for (const connection of [...connections]) {
      if (!connection.open) continue;
      requestClose(this.#push, connection, code, reason, true);
      count++;
    }
    this.#counters.revoked += count;
    return count;
  }

  #notice(connection: Connection, notice: CredentialNotice): void {
    if (!connection.json) return;
    this.#push({ type: "send", connection, payload: framedOnly(encodeCredentialNotice(notice)) });
  }
}

/** A `refresh` that did not settle within `identifyTimeout`. */
class RefreshTimeout extends Error {
  constructor(timeout: number) {
    super(`it did not settle within identifyTimeout (${timeout} ms)`);
    this.name = "RefreshTimeout";
  }
}

/** Why `hub.disconnectUser` closes by default. */
export const REVOKED_REASON = "access revoked";
