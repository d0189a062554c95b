/**
 * The client's side of expiring credentials: calling the `getToken` option
 * before each connection (never reusing a token already sent) and when the
 * hub asks for a fresh one, sending that one in-band (`T`), and reading how
 * the hub took it (`t`).
 *
 * @module
 */

import {
  type CredentialNotice,
  encodeCredential,
  isToken,
  MAX_CREDENTIAL_LENGTH,
} from "../protocol/mod.ts";
import { ServerError, TokenError, UnauthorizedError } from "./errors.ts";
import { type Backoff, backoffDelay, DEFAULT_BACKOFF } from "./reconnect.ts";

/** The `getToken` option: a fresh credential for each call. */
export type GetToken = () => string | Promise<string>;

/** What the client's credentials report to the client. */
export interface CredentialsEvents {
  /** A failure worth an `error` event (a {@linkcode TokenError} or a refused refresh). */
  error: (error: Error) => void;
  /** `getToken` threw an {@linkcode UnauthorizedError}: the client ends. */
  unauthorized: (error: UnauthorizedError) => void;
  /** The hub accepted a fresh credential; its new expiry. */
  refreshed: (expiresAt: number) => void;
}

/** The client's options that {@linkcode ClientCredentials} reads (its resolved options). */
export interface CredentialsOptions {
  /** The `getToken` option, if given. */
  getToken: GetToken | undefined;
  /** How long one call of `getToken` may take, in ms. */
  connectTimeout: number;
  /** The delays between retries of a failed in-band refresh. */
  backoff: Backoff | false;
  random: () => number;
}

/**
 * Calls `getToken` and checks what it gives: a non-empty RFC 7230 token
 * (it goes in the subprotocol list at connect) of at most
 * {@linkcode MAX_CREDENTIAL_LENGTH} characters, within `timeout` ms.
 * Rejects with the {@linkcode UnauthorizedError} it threw, or a
 * {@linkcode TokenError}.
 */
export function callGetToken(getToken: GetToken, timeout: number): Promise<string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new TokenError(`it did not settle within ${timeout} ms (connectTimeout)`)),
      timeout,
    );
  });
  let called: Promise<string>;
  try {
    called = Promise.resolve(getToken());
  } catch (error) {
    called = Promise.reject(error);
  }
  called.catch(() => {}); // it may still fail after the timeout; nobody waits for it then
  const checked = called.then((token) => {
    if (typeof token !== "string" || token.length === 0) {
      throw new TokenError(`it returned ${describe(token)}, not a non-empty string`);
    }
    if (token.length > MAX_CREDENTIAL_LENGTH) {
      throw new TokenError(
        `it returned a token of ${token.length} characters; at most ${MAX_CREDENTIAL_LENGTH} are accepted`,
      );
    }
    if (!isToken(token)) {
      throw new TokenError(
        "it returned a token with characters outside RFC 7230's token set " +
          "(letters, digits and !#$%&'*+-.^_`|~): encode it as base64url",
      );
    }
    return token;
  }, (error) => {
    if (error instanceof UnauthorizedError || error instanceof TokenError) throw error;
    const detail = error instanceof Error ? error.message : String(error);
    throw new TokenError(detail, { cause: error });
  });
  return Promise.race([checked, late]).finally(() => clearTimeout(timer));
}

function describe(value: unknown): string {
  if (typeof value === "string") return "an empty string";
  return value === null ? "null" : `a ${typeof value}`;
}

/**
 * One client's credential: its expiry, and the in-band refresh of the
 * current connection. {@linkcode ClientCredentials.detach} when a
 * connection ends: a refresh still running is then dropped.
 */
export class ClientCredentials {
  /** When the current connection's credential expires (ms since the epoch), if it does. */
  expiresAt: number | undefined;
  readonly #options: CredentialsOptions;
  readonly #events: CredentialsEvents;
  /** Bumped when a connection ends, so that a late `getToken` sends nothing. */
  #connection = 0;
  #refreshing = false;
  #failures = 0;
  #retry: ReturnType<typeof setTimeout> | undefined;

  constructor(options: CredentialsOptions, events: CredentialsEvents) {
    this.#options = options;
    this.#events = events;
  }

  /** Whether the client has a `getToken`. */
  get dynamic(): boolean {
    return this.#options.getToken !== undefined;
  }

  /** A token for the next connection (only with `getToken`). */
  forConnect(): Promise<string> {
    return callGetToken(this.#options.getToken!, this.#options.connectTimeout);
  }

  /** A connection opened; `expiresAt` is its hello's. */
  attach(expiresAt: number | undefined): void {
    this.detach();
    this.expiresAt = expiresAt;
  }

  /** The connection ended: a refresh in flight or waiting to be retried is dropped. */
  detach(): void {
    this.#connection++;
    this.#refreshing = false;
    this.#failures = 0;
    clearTimeout(this.#retry);
    this.#retry = undefined;
  }

  /**
   * A `t` frame arrived: the hub asks for a fresh credential (sent through
   * `send` once `getToken` gave one), or says how one went.
   */
  noticed(notice: CredentialNotice, send: (frame: string) => void): void {
    if (notice.refreshed === true) {
      this.expiresAt = notice.expiresAt;
      this.#events.refreshed(notice.expiresAt);
      return;
    }
    if (notice.error !== undefined) {
      this.expiresAt = notice.expiresAt;
      this.#events.error(new ServerError(notice.error, notice.message ?? notice.error));
      return;
    }
    // Asked. Without getToken there is nothing fresh to send: the hub closes the
    // connection at expiry (4004) and the client reconnects with its token.
    this.expiresAt = notice.expiresAt;
    if (this.#options.getToken === undefined || this.#refreshing) return;
    this.#refresh(send);
  }

  #refresh(send: (frame: string) => void): void {
    const connection = this.#connection;
    this.#refreshing = true;
    callGetToken(this.#options.getToken!, this.#options.connectTimeout).then((token) => {
      if (connection !== this.#connection) return;
      this.#refreshing = false;
      this.#failures = 0;
      send(encodeCredential(token));
    }, (error: Error) => {
      if (connection !== this.#connection) return;
      this.#refreshing = false;
      if (error instanceof UnauthorizedError) return this.#events.unauthorized(error);
      this.#events.error(error);
      // Retried until it works or the connection ends (at expiry + the hub's delay at the latest).
      const delay = backoffDelay(
        this.#failures++,
        this.#options.backoff || DEFAULT_BACKOFF,
        this.#options.random,
      );
      this.#retry = setTimeout(() => {
        this.#retry = undefined;
        if (connection === this.#connection) this.#refresh(send);
      }, delay);
    });
  }
}
