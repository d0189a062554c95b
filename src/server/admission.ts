/**
 * Admission: from an upgrade request to a connection waiting for its socket
 * to open. In order: the hub's capacity (`maxConnections`), the handshake
 * checks (`handshake.ts`), the pace (`admissionRate`), the rooms asked for,
 * `identify` (bounded by `identifyTimeout`, and abandoned when the client
 * hangs up meanwhile), `Deno.upgradeWebSocket`, then the connection's
 * record, its view and its reader. It also keeps the set of sockets the hub
 * holds, which `maxConnections` bounds.
 *
 * The pace: new connections are admitted from a token bucket of
 * `admissionRate` a second (bursts of one second's worth). One that finds it
 * empty is turned away with a time to come back: each one turned away gets
 * the next free slot at that pace, so that a crowd coming back together is
 * spread out. A framed client cannot read an HTTP status from a failed
 * handshake (browsers and Deno report 1006), so it is accepted and closed
 * at once with 1013 and a close notice carrying `retryAfter`; a plain client
 * gets 503 with `Retry-After`.
 *
 * @module
 */

import { assertKnownOptions } from "../common/unknown_options.ts";
import { CloseCode, roomNameProblem } from "../protocol/mod.ts";
import { ClientView } from "./client_view.ts";
import { Connection } from "./connection.ts";
import {
  checkHost,
  checkOrigin,
  checkUpgrade,
  negotiate,
  type Negotiated,
  refuse,
} from "./handshake.ts";
import { attachReader, type ReaderContext } from "./reader.ts";
import { checkIdentity } from "./identity.ts";
import { TokenBucket } from "./rate_limit.ts";
import type { Identity } from "./types.ts";
import type { Parts } from "./wiring.ts";

/**
 * Options of `hub.upgrade()` for one request.
 *
 * @example Join the room named in the URL, which the application checked
 * ```ts
 * import { Hub, type UpgradeOptions } from "@wshub/hub";
 *
 * const hub = new Hub();
 * const server = Deno.serve({ port: 0, onListen() {} }, (req) => {
 *   const room = new URL(req.url).searchParams.get("room");
 *   const options: UpgradeOptions = { rooms: room === null ? [] : [room] };
 *   return hub.upgrade(req, options);
 * });
 * await hub.close();
 * await server.shutdown();
 * ```
 */
export interface UpgradeOptions {
  /**
   * The user this connection belongs to, when the application has already
   * authenticated the request itself. When given (even as `undefined`), the
   * hub's `identify` hook is not called.
   */
  user?: string;
  /**
   * For plain clients that offer several subprotocols: the one to echo, if
   * offered. Default: `wshub.v1` when offered, else the first one offered.
   * A credential (`wshub.token.*`) is never echoed.
   */
  protocol?: string;
  /**
   * Rooms the connection joins as it registers, before `onConnect` runs
   * (server-side joins: `authorizeJoin` is not asked). Typically taken from
   * the URL the application has already checked, such as `?room=`.
   */
  rooms?: readonly string[];
  /**
   * The peer's address, for display only (the inspector's client table):
   * the hub never sees the `Deno.serve` handler's `info`, so pass
   * `info.remoteAddr.hostname` (or a proxy's `X-Forwarded-For`, once
   * checked). Not used for any decision.
   */
  address?: string;
}

const UPGRADE_OPTIONS = ["user", "protocol", "rooms", "address"] satisfies (keyof UpgradeOptions)[];

/** What admission decided for one request: its subprotocol, rooms to join, the peer's address. */
type Admitted = Negotiated & { rooms: readonly string[]; address?: string };

/** The longest a client turned away by the pace is told to wait, in ms. */
export const MAX_RETRY_AFTER = 60_000;

/** Upgrades requests into connections of one hub. */
export class Admission {
  readonly #parts: Parts;
  readonly #reader: ReaderContext;
  /** Sockets upgraded and not yet released (open, opening or closing). */
  readonly #sockets = new Set<WebSocket>();
  #closing = false;
  /** Upgrades refused with 503 because `maxConnections` sockets were held. */
  refusedForCapacity = 0;
  /** Upgrades turned away because they came faster than `admissionRate`. */
  admissionsPaced = 0;
  /** New connections admitted, `admissionRate` a second. */
  readonly #admissions: TokenBucket;
  /** The next slot given to a client turned away (`performance.now()` time). */
  #nextSlot = 0;

  constructor(parts: Parts) {
    this.#parts = parts;
    const { options, heartbeat, counters, push, report } = parts;
    const rate = options.admissionRate;
    this.#admissions = new TokenBucket(rate, rate / 1000, performance.now());
    this.#reader = {
      clock: heartbeat,
      maxMessageBytes: options.maxMessageBytes,
      acceptBinary: options.acceptBinary,
      decode: options.decode,
      logger: options.logger,
      rateLimit: options.rateLimit,
      counters,
      push,
      report,
    };
  }

  /** Sockets the hub holds now: open, opening or closing. */
  get sockets(): number {
    return this.#sockets.size;
  }

  /** From now on, every upgrade is refused with 503 (the hub is shutting down). */
  close(): void {
    this.#closing = true;
  }

  /** A socket the closer released by force: it no longer counts. */
  released(socket: WebSocket): void {
    this.#sockets.delete(socket);
  }

  /**
   * See `Hub.prototype.upgrade`: answers every request with a response;
   * throws only for options that do not exist (a programming error).
   */
  upgrade(req: Request, options?: UpgradeOptions): Response | Promise<Response> {
    if (options !== undefined) assertKnownOptions("upgrade option", options, UPGRADE_OPTIONS);
    if (this.#closing) return refuse(503, "The hub is shutting down; reconnect later");
    const { allowedHosts, allowedOrigins, logger, identify } = this.#parts.options;
    let refusal: Response | undefined = this.#checkCapacity();
    let negotiated: Negotiated | Response | undefined;
    try {
      refusal ??= checkUpgrade(req) ?? checkHost(req, allowedHosts) ??
        checkOrigin(req, allowedOrigins);
      if (refusal === undefined) {
        // Before identify: a list that cannot be negotiated is refused at once.
        negotiated = negotiate(req, options?.protocol);
        if (negotiated instanceof Response) refusal = negotiated;
      }
    } catch (error) {
      // Deno closes a request's headers once it has been upgraded: reading
      // them throws when the same request is upgraded a second time.
      return this.#upgradeFailed(req, error);
    }
    if (refusal !== undefined) {
      logger.debug("wshub: upgrade refused", { status: refusal.status, url: req.url });
      return refusal;
    }
    const retryAfter = this.#pace();
    if (retryAfter !== undefined) return this.#turnAway(req, negotiated as Negotiated, retryAfter);
    const rooms = options?.rooms ?? [];
    for (const room of rooms) {
      const problem = roomNameProblem(room);
      if (problem !== undefined) return this.#upgradeFailed(req, new RangeError(problem));
    }
    const chosen: Admitted = { ...(negotiated as Negotiated), rooms, address: options?.address };
    if (identify === undefined || (options !== undefined && "user" in options)) {
      return this.#accept(req, options?.user, undefined, chosen);
    }
    let identity: Identity | Promise<Identity>;
    try {
      identity = identify(req);
    } catch (error) {
      return this.#identifyFailed(error);
    }
    if (identity instanceof Promise) return this.#awaitIdentity(req, identity, chosen);
    return this.#admit(req, identity, chosen);
  }

  /**
   * Waits for an async `identify`, for at most `identifyTimeout` (then 503).
   * A client that hangs up meanwhile is not upgraded: Deno would leak its
   * socket and descriptor, and `server.shutdown()` would never resolve (see
   * `docs/deno-limits.md`). Deno watches for the hang-up only once
   * `req.signal` has been read, so it is read before waiting.
   */
  async #awaitIdentity(
    req: Request,
    identity: Promise<Identity>,
    admitted: Admitted,
  ): Promise<Response> {
    const { identifyTimeout, logger } = this.#parts.options;
    const signal = req.signal;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), identifyTimeout);
    });
    let resolved: Identity | "timeout";
    try {
      resolved = await Promise.race([identity, timeout]);
    } catch (error) {
      return this.#identifyFailed(error);
    } finally {
      clearTimeout(timer);
    }
    if (resolved === "timeout") {
      identity.catch(() => {}); // it may still fail; nobody is waiting for it
      this.#parts.report(
        new Error(
          `The identify hook did not settle within identifyTimeout (${identifyTimeout} ms); ` +
            "the upgrade was refused with 503",
        ),
        undefined,
      );
      return refuse(503, "Could not identify this connection in time; try again later");
    }
    if (signal.aborted) {
      logger.debug("wshub: the client hung up while identify ran", { url: req.url });
      return new Response(null, { status: 499 });
    }
    return this.#admit(req, resolved, admitted);
  }

  /** 503 when `maxConnections` sockets are held (open, opening, closing, or leaked). */
  #checkCapacity(): Response | undefined {
    const { maxConnections } = this.#parts.options;
    const held = this.#sockets.size + this.#parts.closer.leaked;
    if (held < maxConnections) return undefined;
    this.refusedForCapacity++;
    return refuse(
      503,
      `The server holds its maximum of ${maxConnections} connections; try again later`,
      { "retry-after": "5" },
    );
  }

  /**
   * Takes an admission from the bucket; when there is none, returns in how
   * many ms the client should come back: the next free slot at the
   * admission rate (see the module's doc).
   */
  #pace(): number | undefined {
    const now = performance.now();
    const admissions = this.#admissions;
    if (admissions.take(1, now)) return undefined;
    this.admissionsPaced++;
    // The first one turned away comes back when the next admission is due; each next one a
    // slot later.
    const interval = 1000 / this.#parts.options.admissionRate;
    this.#nextSlot = Math.max(this.#nextSlot + interval, now + admissions.wait(1, now));
    return Math.min(MAX_RETRY_AFTER, Math.max(1, Math.ceil(this.#nextSlot - now)));
  }

  /**
   * Turns a client away until `retryAfter` ms from now: a plain one with 503
   * and `Retry-After` (whole seconds), a framed one by accepting it and
   * closing it at once with 1013 and a close notice that carries
   * `retryAfter` (it cannot read a status). The socket counts against
   * `maxConnections` until it is released.
   */
  #turnAway(req: Request, negotiated: Negotiated, retryAfter: number): Response {
    const reason = `the server is admitting connections at its pace; come back in ${retryAfter} ms`;
    if (!negotiated.framed) {
      return refuse(503, `Too many new connections: ${reason}`, {
        "retry-after": String(Math.ceil(retryAfter / 1000)),
      });
    }
    let upgraded: { socket: WebSocket; response: Response };
    try {
      upgraded = Deno.upgradeWebSocket(req, { idleTimeout: 0 });
      upgraded.response.headers.set("sec-websocket-protocol", negotiated.protocol!);
    } catch (error) {
      return this.#upgradeFailed(req, error);
    }
    const { socket, response } = upgraded;
    const closer = this.#parts.closer;
    this.#sockets.add(socket);
    socket.addEventListener("close", () => this.#sockets.delete(socket), { once: true });
    socket.addEventListener(
      "open",
      () => closer.close(socket, CloseCode.TryAgainLater, reason, { retryAfter }),
      { once: true },
    );
    return response;
  }

  #admit(req: Request, identity: unknown, admitted: Admitted): Response {
    if (identity instanceof Response) {
      this.#parts.options.logger.debug("wshub: identify refused the upgrade", {
        status: identity.status,
        url: req.url,
      });
      return identity;
    }
    if (identity === undefined || typeof identity === "string") {
      return this.#accept(req, identity, undefined, admitted);
    }
    const expiring = checkIdentity(identity, "identify");
    if (expiring instanceof Error) return this.#identifyFailed(expiring);
    if (expiring.expiresAt <= Date.now()) {
      this.#parts.options.logger.debug("wshub: identify returned an expired identity", {
        url: req.url,
      });
      return refuse(401, "Credentials expired");
    }
    return this.#accept(req, expiring.user, expiring.expiresAt, admitted);
  }

  #identifyFailed(error: unknown): Response {
    const message = error instanceof Error ? error.message : String(error);
    this.#parts.report(
      new Error(`The identify hook failed: ${message}`, { cause: error }),
      undefined,
    );
    return refuse(500, "Could not identify this connection");
  }

  #upgradeFailed(req: Request, error: unknown): Response {
    const message = error instanceof Error ? error.message : String(error);
    let url = "";
    try {
      url = req.url;
    } catch {
      // the request is closed
    }
    this.#parts.options.logger.debug("wshub: upgrade failed", { error: message, url });
    return refuse(400, `WebSocket upgrade failed: ${message}`);
  }

  /**
   * Deno's protocol-level idle timeout, in seconds. Plain clients get the
   * `idleTimeout` option (in ms, rounded up to seconds): it is their only
   * keepalive. Framed clients get one twice as long as the application
   * heartbeat's deadline, so it never fires for a live client; it is the
   * backstop that releases a socket whose reading Deno itself gave up on
   * (see `docs/deno-limits.md`, huge messages).
   */
  #idleTimeout(framed: boolean): number {
    const { idleTimeout, pingInterval, pongTimeout } = this.#parts.options;
    if (!framed) return Math.ceil(idleTimeout / 1000);
    return Math.ceil((2 * (pingInterval + pongTimeout)) / 1000);
  }

  #accept(
    req: Request,
    user: string | undefined,
    expiresAt: number | undefined,
    admitted: Admitted,
  ): Response {
    if (this.#closing) return refuse(503, "The hub is shutting down; reconnect later");
    const full = this.#checkCapacity(); // again: an async identify may have taken a while
    if (full !== undefined) return full;
    const { protocol, framed, version, rooms, address } = admitted;
    let upgraded: { socket: WebSocket; response: Response };
    try {
      // Deno finds the protocol to echo by splitting the offered list on ", "
      // only, and throws when a list joined otherwise (Node's ws sends "a,b")
      // does not match. So the hub, which parsed the list itself, upgrades
      // without naming a protocol and sets the echo on the 101 response.
      upgraded = Deno.upgradeWebSocket(req, { idleTimeout: this.#idleTimeout(framed) });
      if (protocol !== undefined) {
        upgraded.response.headers.set("sec-websocket-protocol", protocol);
      }
    } catch (error) {
      // Malformed, or already upgraded (by another call, or while an async
      // identify was running).
      return this.#upgradeFailed(req, error);
    }
    const { options, push, handOffs } = this.#parts;
    const view = { push, requestTimeout: options.requestTimeout };
    const connection = new Connection(
      upgraded.socket,
      { user, framed, json: version === 2, protocol: protocol ?? "", rooms, expiresAt, address },
      {
        framed,
        json: version === 2,
        coalesce: options.coalesce,
        sendQueueLimit: options.sendQueueLimit,
        overflow: options.overflow,
        maxBufferedBytes: options.maxBufferedBytes,
      },
      (connection) => new ClientView(connection, view),
      handOffs,
    );
    attachReader(connection, this.#reader);
    const socket = upgraded.socket;
    this.#sockets.add(socket);
    socket.addEventListener("close", () => this.#sockets.delete(socket), { once: true });
    return upgraded.response;
  }
}
