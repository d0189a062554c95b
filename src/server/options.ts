/**
 * The hub's options: their types ({@linkcode HubOptions}), their defaults
 * and bounds in one table ({@linkcode NUMBERS}, {@linkcode DEFAULTS}), and
 * their validation ({@linkcode resolveOptions}). The options tables of
 * docs/server.md and the README are the user-facing lists;
 * `tests/options_test.ts` keeps them in step with this module.
 *
 * To add an option: its field in `HubOptions` (documented), its default
 * here (in `NUMBERS` for a number), its row in docs/server.md's table and
 * the README's.
 *
 * @module
 */

import {
  DEFAULT_MAX_REQUESTS_IN_FLIGHT,
  DEFAULT_REQUEST_TIMEOUT,
  type PresenceEvent,
} from "../protocol/mod.ts";
import { assertKnownOptions } from "../common/unknown_options.ts";
import type { Backplane } from "./backplane.ts";
import type { HistoryOptions } from "./history.ts";
import type { HubApi } from "./hub_api.ts";
import { defaultLogger, type Logger } from "./logger.ts";
import {
  RATE_LIMIT_DEFAULTS,
  type RateLimitOptions,
  type ResolvedRateLimit,
} from "./rate_limit.ts";
import type {
  Client,
  DisconnectInfo,
  ExpiringIdentity,
  Identity,
  OverflowPolicy,
} from "./types.ts";

/**
 * Options of a `Hub`. Every option has a default; every time is in
 * milliseconds.
 *
 * @typeParam T What `broadcast`, `sendToUser` and `client.send` accept.
 * @typeParam In What `onMessage` receives (see `decode`).
 */
export interface HubOptions<T = unknown, In = unknown> {
  /**
   * Called with each message a client sends, in the order that client sent
   * them. A handler that returns a promise holds back that client's next
   * message until it settles (other clients are not held back). A handler
   * that throws or rejects is reported to `onError` and changes nothing else.
   */
  onMessage?: (message: In, client: Client<T>, hub: HubApi<T>) => void | Promise<void>;
  /**
   * Answers the requests clients send (`client.request()` in the client
   * module): its return value, or what its promise resolves to, is the reply
   * (strings as they are, other values JSON-encoded, `undefined` as `null`;
   * text only). To fail the request with a message the client may see, throw
   * a `ReplyError`; anything else thrown or rejected is reported to `onError`
   * and the client gets the code `handler_error` with the message "The
   * request failed". Requests share the client's inbox with its messages:
   * they are handled in the order they were sent, one at a time per client,
   * an async handler holding back that client's next message or request.
   * Default: none (requests are answered `no_handler`).
   */
  onRequest?: (message: In, client: Client<T>, hub: HubApi<T>) => unknown;
  /**
   * Requests that may be in flight per connection in each direction: from
   * the client (received and not answered yet; past it a request is answered
   * `too_many_requests` at once) and to the client (`client.request()` past
   * it fails at once with a `RequestError` of that code). Default 64.
   */
  maxRequestsInFlight?: number;
  /** How long `client.request()` waits for the answer unless told otherwise. Default 10,000 ms. */
  requestTimeout?: number;
  /** Called once a client is registered and can be sent messages. */
  onConnect?: (client: Client<T>, hub: HubApi<T>) => void;
  /** Called once a client has been unregistered (after it left every room). */
  onDisconnect?: (client: Client<T>, info: DisconnectInfo, hub: HubApi<T>) => void;
  /**
   * Decides whether a framed client may join a room it asked to join
   * (`client.join(room)` in the client module). Return `true` to allow; sync
   * or async. A refusal (or a throw) is answered with an error, never a
   * close. Joins made by the server (`hub.join`) are trusted and skip it.
   * Default: every valid room may be joined.
   */
  authorizeJoin?: (client: Client<T>, room: string) => boolean | Promise<boolean>;
  /**
   * Called when a user's first connection joins a room, or its last one
   * leaves (leaving, or disconnecting): once per user, never per tab.
   * Anonymous connections have no presence.
   */
  onPresence?: (event: PresenceEvent, hub: HubApi<T>) => void;
  /**
   * Whether framed members of a room are sent presence events (`u` frames;
   * `presence` events in the client module): `true` for every room, or a
   * function choosing per room. Default `false`.
   */
  presenceEvents?: boolean | ((room: string) => boolean);
  /**
   * How long a room's presence changes are collected before its members are
   * told, in ms: the first change in a room opens its window, and when the
   * window ends the members get one diff — the users who joined and the
   * users who left — in which a join and a leave of the same user inside
   * the window cancel out. `0` tells every change at once. Default 1,000.
   */
  presenceWindow?: number;
  /** Rooms one connection may be in at once. Default 128. */
  maxRoomsPerConnection?: number;
  /**
   * Joins and leaves a client may ask for (`j`, `l`) per second, on average,
   * after its burst (`roomChangeBurst`): past it a join is refused with
   * `rate_limited` (the client may try again after the answer's
   * `retryAfter`); a leave is never refused, but counts. `hub.join` and
   * `hub.leave` do not count. Default 5.
   */
  roomChangesPerSecond?: number;
  /**
   * How many joins and leaves a client may ask for at once before
   * `roomChangesPerSecond` applies. Keep it at least `maxRoomsPerConnection`:
   * a client that reconnects rejoins all its rooms at once. Default: twice
   * `maxRoomsPerConnection` (256).
   */
  roomChangeBurst?: number;
  /**
   * A message bus that makes several hub processes act as one (broadcasts,
   * user messages, room publishes and presence reach every process), such
   * as `RedisBackplane` from `@wshub/hub/redis`. Default: none; this hub
   * serves its own process only.
   */
  backplane?: Backplane;
  /**
   * Which rooms keep their recent publications, so that a framed client
   * that reconnects is sent what it missed: `{ size, ttl }` for every room
   * (its last `size` publications, each for `ttl` ms, and its position for
   * `positionTtl`, default a day), or a function that chooses per room
   * (`undefined`: none). Kept in this process, or in the backplane's bus
   * when it keeps history (`RedisBackplane` does). Default: none (nothing
   * is stored).
   */
  history?: HistoryOptions | ((room: string) => HistoryOptions | undefined);
  /**
   * The most publications sent to one client recovering in one room; past
   * it the client is told it is not recovered (`too_many`). Default 1,000.
   */
  maxRecover?: number;
  /**
   * Publications one connection may be sent by recoveries (joins with
   * `since`: rejoins, gap repairs) and by joins with `history`, at once;
   * refilled at a tenth of it per second. A recovery asked while the budget
   * is spent is answered `recovered: false`, `rate_limited`, with the room's
   * position and nothing else (a client asking for the same publications in
   * a loop is refused). Default: ten times `maxRecover` (10,000).
   */
  recoveryBudget?: number;
  /**
   * New connections the hub admits per second, in bursts of one second's
   * worth: past it, a framed client's upgrade is accepted and closed at
   * once with 1013 and a close notice whose `retryAfter` spreads the
   * refused clients over time at this pace (the reference client comes
   * back then, with jitter, instead of after its own backoff); a plain
   * client's upgrade is refused with 503 and `Retry-After`. Keeps a storm
   * of reconnects from stalling the clients already connected. Default
   * 2,000.
   */
  admissionRate?: number;
  /**
   * Called when something goes wrong with a client or a callback: a throwing
   * handler, an undecodable message, a peer cut off. Default: log it as a
   * warning through `logger`.
   */
  onError?: (error: Error, client: Client<T> | undefined) => void;
  /**
   * Decides who a connection belongs to, before the upgrade. Return a user
   * id, `undefined` for anonymous, or a `Response` to refuse the upgrade (it
   * is sent as it is). May be async. Default: every connection is anonymous.
   */
  identify?: (req: Request) => Identity | Promise<Identity>;
  /**
   * Checks a fresh credential a connected client sent (`getToken` in the
   * client module, asked for by the hub before its credential expires):
   * return the identity it proves, `{ user, expiresAt }`, or a promise of it;
   * throw (or reject) to refuse it. A refresh naming another user than the
   * connection's is refused and the connection closed (4403). It gets
   * `identifyTimeout` to settle. Default: none (credentials cannot be
   * refreshed; an expiring connection is closed when it expires).
   */
  refresh?: (
    token: string,
    client: Client<T>,
  ) => ExpiringIdentity | Promise<ExpiringIdentity>;
  /**
   * How long after its credential expired a connection that did not
   * refresh it is kept before it is closed (4004, the reference client then
   * gets a fresh credential and reconnects). Default 25,000 ms.
   */
  expiredCloseDelay?: number;
  /**
   * Origins allowed to open a connection, as `scheme://host[:port]`, or `"*"`
   * for any. Default: only the request's own origin (the `Origin` header's
   * host equals the `Host` header), which stops cross-site WebSocket
   * hijacking: browsers send cookies with cross-site upgrades and CORS does
   * not apply to WebSockets. Requests without an `Origin` header (non-browser
   * clients) are always allowed; browsers always send one.
   */
  allowedOrigins?: readonly string[] | "*";
  /**
   * Turns each inbound message into what `onMessage` receives. If it throws,
   * the client is closed with 1007 and `onError` is told. Default: the
   * message as it came, a string or a `Uint8Array`.
   */
  decode?: (data: string | Uint8Array) => In;
  /** Whether binary messages are accepted; if not, they close the client with 1003. Default `true`. */
  acceptBinary?: boolean;
  /** How often framed clients are pinged. Default 25,000 ms. */
  pingInterval?: number;
  /** How long after a ping a framed client that has sent nothing since is cut off (4000). Default 10,000 ms. */
  pongTimeout?: number;
  /** How long a frame may wait to be flushed to a peer before it is cut off (4001). Default 10,000 ms. */
  writeTimeout?: number;
  /** How long `close()` waits for queued messages to drain before closing every client. Default 5,000 ms. */
  drainTimeout?: number;
  /**
   * How long a socket the hub closed may wait for the peer's close frame
   * before the hub releases it by force (Deno has no close timeout of its
   * own; see `docs/deno-limits.md`). Default 5,000 ms.
   */
  closeTimeout?: number;
  /** Largest inbound message accepted; a larger one closes the client with 1009. Default 1 MiB. */
  maxMessageBytes?: number;
  /** Messages that may wait in one client's send queue. Default 1,024. */
  sendQueueLimit?: number;
  /** What happens when a send queue is full. Default `"close"`. */
  overflow?: OverflowPolicy;
  /**
   * Bytes the hub lets wait in Deno's own write buffer for one client
   * (`bufferedAmount`) before it queues further messages itself. Default 1 MiB.
   */
  maxBufferedBytes?: number;
  /** Inbound messages that may wait for a slow async `onMessage` per client before it is closed with 1008. Default 1,024. */
  inboxLimit?: number;
  /**
   * Bytes of inbound messages that may wait for a slow async `onMessage` per
   * client before it is closed with 1008. Default 4 MiB.
   */
  maxInboxBytes?: number;
  /**
   * Bytes of inbound messages that may wait for slow async handlers in all
   * clients together; a client whose message does not fit is closed with
   * 1013 (try again later). Default 64 MiB.
   */
  maxTotalInboxBytes?: number;
  /**
   * Inbound rate limits per connection (see {@linkcode RateLimitOptions}), or
   * `false` for none. Default: 100 messages and 1 MiB a second, bursts of
   * twice that, past which the client is closed with 1008.
   */
  rateLimit?: RateLimitOptions | false;
  /** Whether several queued text messages go out as one frame to framed clients. Default `true`. */
  coalesce?: boolean;
  /**
   * Protocol-level ping timeout for plain clients, in milliseconds, passed
   * to `Deno.upgradeWebSocket` (which counts whole seconds: it is rounded up;
   * 0 disables it). Framed clients use the application heartbeat instead.
   * Default 30,000.
   */
  idleTimeout?: number;
  /**
   * Where the hub logs (`console`, an @std/log or LogTape logger, or any
   * {@linkcode Logger}). Default: warnings and errors printed to the console
   * with their fields (debug and info are not); `quietLogger` prints nothing.
   */
  logger?: Logger;
  /** Aborting it closes the hub, as `close()` does. */
  signal?: AbortSignal;
  /**
   * Sockets the hub may hold at once — open, opening, closing, and those
   * released by force that may still hold a descriptor; an upgrade past it
   * is refused with 503. Keep it below the process's descriptor limit
   * (`ulimit -n`; Deno raises the soft limit to the hard one at start) minus
   * what else the process opens. Default: that limit minus a tenth (at least
   * 64), at most 100,000, when the hub may read `/proc/self/limits` (Deno
   * allows it only with `--allow-all`); otherwise 10,000.
   */
  maxConnections?: number;
  /**
   * How long an async `identify` may take; past it the upgrade is refused
   * with 503 and `onError` is told. Default 10,000 ms.
   */
  identifyTimeout?: number;
  /**
   * The `Host` header values this server answers to (`host` or `host:port`,
   * case-insensitive); a request for another host is refused with 403. Set
   * it in production: it stops DNS rebinding, where a page on an attacker's
   * domain that resolves to this server passes the same-origin check.
   * Default: any host.
   */
  allowedHosts?: readonly string[];
  /**
   * Whether to keep the process alive when Deno's WebSocket fails on a text
   * message too large for a JavaScript string (over ~512 MiB, which Deno
   * assembles before the hub sees it). Installs one narrow
   * `unhandledrejection` listener for exactly that error; every other
   * unhandled rejection is left alone. Default `true`.
   */
  guardOversizedMessages?: boolean;
}

/**
 * The numeric options: default and smallest value allowed, in one table.
 * Every one is a finite number. A default of `undefined` is computed (see
 * {@linkcode COMPUTED}): `maxConnections` from the descriptor limit,
 * `roomChangeBurst` and `recoveryBudget` from other options.
 */
export const NUMBERS = Object.freeze(
  {
    pingInterval: { default: 25_000, min: 1 },
    pongTimeout: { default: 10_000, min: 1 },
    writeTimeout: { default: 10_000, min: 1 },
    drainTimeout: { default: 5_000, min: 0 },
    closeTimeout: { default: 5_000, min: 1 },
    maxMessageBytes: { default: 1024 * 1024, min: 1 },
    sendQueueLimit: { default: 1024, min: 1 },
    maxBufferedBytes: { default: 1024 * 1024, min: 1 },
    inboxLimit: { default: 1024, min: 1 },
    maxInboxBytes: { default: 4 * 1024 * 1024, min: 1 },
    maxTotalInboxBytes: { default: 64 * 1024 * 1024, min: 1 },
    idleTimeout: { default: 30_000, min: 0 },
    identifyTimeout: { default: 10_000, min: 1 },
    expiredCloseDelay: { default: 25_000, min: 0 },
    presenceWindow: { default: 1000, min: 0 },
    maxRoomsPerConnection: { default: 128, min: 1 },
    roomChangesPerSecond: { default: 5, min: 0 },
    roomChangeBurst: { default: undefined, min: 1 },
    maxRecover: { default: 1000, min: 1 },
    recoveryBudget: { default: undefined, min: 1 },
    admissionRate: { default: 2000, min: 1 },
    maxRequestsInFlight: { default: DEFAULT_MAX_REQUESTS_IN_FLIGHT, min: 1 },
    requestTimeout: { default: DEFAULT_REQUEST_TIMEOUT, min: 1 },
    maxConnections: { default: undefined, min: 0 },
  } as const,
);

/**
 * Every option's name, for the checks that need them at run time (the
 * docs' tables, unknown names). The compiler keeps it complete: a name
 * missing here is a type error below.
 */
export const OPTION_NAMES = Object.freeze(
  [
    "onMessage",
    "onRequest",
    "maxRequestsInFlight",
    "requestTimeout",
    "onConnect",
    "onDisconnect",
    "authorizeJoin",
    "onPresence",
    "presenceEvents",
    "presenceWindow",
    "maxRoomsPerConnection",
    "roomChangesPerSecond",
    "roomChangeBurst",
    "backplane",
    "history",
    "maxRecover",
    "recoveryBudget",
    "admissionRate",
    "onError",
    "identify",
    "refresh",
    "expiredCloseDelay",
    "allowedOrigins",
    "decode",
    "acceptBinary",
    "pingInterval",
    "pongTimeout",
    "writeTimeout",
    "drainTimeout",
    "closeTimeout",
    "maxMessageBytes",
    "sendQueueLimit",
    "overflow",
    "maxBufferedBytes",
    "inboxLimit",
    "maxInboxBytes",
    "maxTotalInboxBytes",
    "rateLimit",
    "coalesce",
    "idleTimeout",
    "logger",
    "signal",
    "maxConnections",
    "identifyTimeout",
    "allowedHosts",
    "guardOversizedMessages",
  ] as const satisfies readonly (keyof HubOptions)[],
);
/** `true` when {@linkcode OPTION_NAMES} lists every option (else a type error names the missing). */
const EVERY_OPTION_NAMED: Exclude<keyof HubOptions, typeof OPTION_NAMES[number]> extends never
  ? true
  : Exclude<keyof HubOptions, typeof OPTION_NAMES[number]> = true;
void EVERY_OPTION_NAMED;

/** The names of the numeric options. */
type NumberOption = keyof typeof NUMBERS;

/** The numeric options whose default is computed. */
type ComputedOption = {
  [K in NumberOption]: (typeof NUMBERS)[K]["default"] extends undefined ? K : never;
}[NumberOption];

/**
 * How the computed defaults are computed, from the other numeric options
 * (already resolved): `maxConnections` from the descriptor limit
 * ({@linkcode defaultMaxConnections}); `roomChangeBurst`, twice
 * `maxRoomsPerConnection` (a reconnecting client rejoins every room at
 * once); `recoveryBudget`, ten times `maxRecover`.
 */
export const COMPUTED: Readonly<
  Record<ComputedOption, (resolved: Record<NumberOption, number>) => number>
> = Object.freeze({
  maxConnections: () => defaultMaxConnections(),
  roomChangeBurst: (resolved) => 2 * resolved.maxRoomsPerConnection,
  recoveryBudget: (resolved) => 10 * resolved.maxRecover,
});

/** Every default, as the options tables document them (computed ones: see {@linkcode COMPUTED}). */
export const DEFAULTS = Object.freeze({
  ...Object.fromEntries(
    Object.entries(NUMBERS).filter(([, n]) => n.default !== undefined).map((
      [name, n],
    ) => [name, n.default]),
  ) as { [K in Exclude<NumberOption, ComputedOption>]: (typeof NUMBERS)[K]["default"] },
  acceptBinary: true,
  overflow: "close" as OverflowPolicy,
  coalesce: true,
  guardOversizedMessages: true,
  presenceEvents: false,
});

/** Options resolved to a function of the room, or to their resolved form. */
type Computed = "rateLimit" | "presenceEvents" | "history" | "logger";

/**
 * The options with every default filled in: each option with a default is
 * present; the others (callbacks, lists, the backplane) as given.
 */
export type ResolvedOptions<T, In> =
  & { readonly [K in NumberOption]: number }
  & {
    readonly [K in Exclude<keyof typeof DEFAULTS, NumberOption | Computed>]-?: NonNullable<
      HubOptions<T, In>[K]
    >;
  }
  & {
    readonly [
      K in Exclude<keyof HubOptions<T, In>, keyof typeof DEFAULTS | NumberOption | Computed>
    ]?: HubOptions<T, In>[K];
  }
  & {
    readonly rateLimit: ResolvedRateLimit | undefined;
    readonly presenceEvents: (room: string) => boolean;
    readonly history: (room: string) => HistoryOptions | undefined;
    readonly logger: Logger;
  };

/** The `maxConnections` default when the descriptor limit cannot be read. */
export const FALLBACK_MAX_CONNECTIONS = 10_000;

/**
 * The default `maxConnections`: the soft descriptor limit minus a tenth (at
 * least 64 kept back), at most 100,000, when `/proc/self/limits` may be read
 * without a permission prompt; otherwise {@linkcode FALLBACK_MAX_CONNECTIONS}.
 */
export function defaultMaxConnections(): number {
  const path = "/proc/self/limits";
  try {
    if (Deno.permissions.querySync({ name: "read", path }).state !== "granted") {
      return FALLBACK_MAX_CONNECTIONS;
    }
    const line = Deno.readTextFileSync(path).split("\n").find((l) =>
      l.startsWith("Max open files")
    );
    const soft = Number(line?.split(/\s+/)[3]);
    if (!Number.isInteger(soft) || soft <= 0) return FALLBACK_MAX_CONNECTIONS;
    return Math.max(1, Math.min(100_000, soft - Math.max(64, Math.ceil(soft / 10))));
  } catch {
    // Not Linux, or Deno refuses /proc without --allow-all.
    return FALLBACK_MAX_CONNECTIONS;
  }
}

function positive(name: string, value: number | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < min) {
    throw new RangeError(
      `Invalid hub option ${name}: ${String(value)}; expected a finite number of at least ${min}`,
    );
  }
  return value;
}

/** Each numeric option, checked against its bounds, or its default. */
function resolveNumbers(options: HubOptions<unknown, unknown>): Record<NumberOption, number> {
  const resolved = {} as Record<NumberOption, number>;
  const computed: ComputedOption[] = [];
  for (const name of Object.keys(NUMBERS) as NumberOption[]) {
    const { default: fallback, min } = NUMBERS[name];
    const value = options[name];
    if (value === undefined && fallback === undefined) computed.push(name as ComputedOption);
    else resolved[name] = positive(name, value, fallback ?? 0, min);
  }
  for (const name of computed) resolved[name] = COMPUTED[name](resolved);
  const idle = resolved.idleTimeout;
  if (idle > 0 && idle < 1000) {
    throw new RangeError(
      `Invalid hub option idleTimeout: ${idle}; it is in milliseconds (since 0.2) and Deno ` +
        "counts whole seconds: use 0 (off) or at least 1000",
    );
  }
  return resolved;
}

/**
 * Fills in defaults and checks every option.
 *
 * @throws {TypeError} If an option's name is unknown (the message names the closest known one).
 * @throws {RangeError} If a number is out of range or an option has the wrong shape (the
 * message names the option).
 */
export function resolveOptions<T, In>(options: HubOptions<T, In>): ResolvedOptions<T, In> {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`Invalid hub options: expected an object, got ${describe(options)}`);
  }
  assertKnownOptions("hub option", options, OPTION_NAMES);
  const overflow = options.overflow ?? DEFAULTS.overflow;
  if (overflow !== "close" && overflow !== "drop-oldest") {
    throw new RangeError(
      `Invalid hub option overflow: ${String(overflow)}; expected "close" or "drop-oldest"`,
    );
  }
  const hosts = options.allowedHosts;
  if (hosts !== undefined && !Array.isArray(hosts)) {
    throw new RangeError("Invalid hub option allowedHosts: expected an array of host names");
  }
  const origins = options.allowedOrigins;
  if (origins !== undefined && origins !== "*" && !Array.isArray(origins)) {
    throw new RangeError('Invalid hub option allowedOrigins: expected an array of origins or "*"');
  }
  const numbers = resolveNumbers(options as HubOptions<unknown, unknown>);
  return {
    ...options,
    ...numbers,
    acceptBinary: options.acceptBinary ?? DEFAULTS.acceptBinary,
    overflow,
    coalesce: options.coalesce ?? DEFAULTS.coalesce,
    guardOversizedMessages: options.guardOversizedMessages ?? DEFAULTS.guardOversizedMessages,
    rateLimit: resolveRateLimit(options.rateLimit, numbers.maxMessageBytes),
    logger: options.logger ?? defaultLogger,
    presenceEvents: resolvePresenceEvents(options.presenceEvents),
    history: resolveHistory(options.history, options.backplane),
  };
}

function resolveRateLimit(
  options: RateLimitOptions | false | undefined,
  maxMessageBytes: number,
): ResolvedRateLimit | undefined {
  // The byte bucket always holds one largest message and its tag, whatever the rate.
  if (options === false) return undefined;
  if (options !== undefined && (typeof options !== "object" || options === null)) {
    throw new RangeError("Invalid hub option rateLimit: expected an object or false");
  }
  if (options !== undefined) {
    assertKnownOptions("rateLimit option", options, Object.keys(RATE_LIMIT_DEFAULTS));
  }
  const limits = { ...RATE_LIMIT_DEFAULTS, ...options };
  const action = limits.action;
  if (action !== "close" && action !== "drop") {
    throw new RangeError(
      `Invalid hub option rateLimit.action: ${String(action)}; expected "close" or "drop"`,
    );
  }
  const resolved: ResolvedRateLimit = {
    messagesPerSecond: positive("rateLimit.messagesPerSecond", limits.messagesPerSecond, 0),
    bytesPerSecond: positive("rateLimit.bytesPerSecond", limits.bytesPerSecond, 0),
    burst: positive("rateLimit.burst", limits.burst, 0),
    action,
    minByteBurst: maxMessageBytes + 1,
  };
  return resolved;
}

function resolvePresenceEvents(
  option: boolean | ((room: string) => boolean) | undefined,
): (room: string) => boolean {
  if (typeof option === "function") return option;
  if (option === undefined || typeof option === "boolean") {
    const on = option === true;
    return () => on;
  }
  throw new RangeError("Invalid hub option presenceEvents: expected a boolean or a function");
}

function resolveHistory(
  option: HubOptions<unknown, unknown>["history"],
  backplane: Backplane | undefined,
): (room: string) => HistoryOptions | undefined {
  if (option !== undefined && backplane !== undefined && backplane.history === undefined) {
    throw new RangeError(
      "Invalid hub options: history needs a backplane that keeps it (such as RedisBackplane); " +
        "this backplane keeps none",
    );
  }
  return historyChooser(option, "hub option");
}

/**
 * Which rooms keep history, and how much, from a `history` option (the
 * hub's, or a `RedisEmitter`'s, which must match its hubs'): each choice is
 * checked when made. `what` names the option in error messages (`"hub
 * option"`, `"RedisEmitter option"`).
 *
 * @throws {RangeError} If a fixed choice is invalid (a function's choices
 * throw when made).
 */
export function historyChooser(
  option: HistoryOptions | ((room: string) => HistoryOptions | undefined) | undefined,
  what: string,
): (room: string) => HistoryOptions | undefined {
  if (option === undefined) return () => undefined;
  if (typeof option === "function") {
    return (room) => {
      const chosen = option(room);
      return chosen === undefined ? undefined : checkHistory(chosen, what);
    };
  }
  const checked = checkHistory(option, what);
  return () => checked;
}

function checkHistory(option: HistoryOptions, what: string): HistoryOptions {
  if (typeof option !== "object" || option === null) {
    throw new RangeError(`Invalid ${what} history: expected { size, ttl }`);
  }
  assertKnownOptions("history option", option, HISTORY_OPTION_NAMES);
  if (!Number.isInteger(option.size) || option.size < 1) {
    throw new RangeError(
      `Invalid ${what} history.size: ${option.size}; expected an integer of at least 1`,
    );
  }
  if (typeof option.ttl !== "number" || !Number.isFinite(option.ttl) || option.ttl <= 0) {
    throw new RangeError(
      `Invalid ${what} history.ttl: ${option.ttl}; expected a number of ms above 0`,
    );
  }
  const positionTtl = option.positionTtl;
  if (
    positionTtl !== undefined &&
    (typeof positionTtl !== "number" || !Number.isFinite(positionTtl) || positionTtl <= 0)
  ) {
    throw new RangeError(
      `Invalid ${what} history.positionTtl: ${positionTtl}; expected a number of ms above 0`,
    );
  }
  return positionTtl === undefined
    ? { size: option.size, ttl: option.ttl }
    : { size: option.size, ttl: option.ttl, positionTtl };
}

const HISTORY_OPTION_NAMES = ["size", "ttl", "positionTtl"] satisfies (keyof HistoryOptions)[];

/** How a value reads in an error message. */
function describe(value: unknown): string {
  return value === null ? "null" : Array.isArray(value) ? "an array" : typeof value;
}
