/**
 * `NatsBackplane`: several hub processes as one over NATS: messages on core
 * NATS subjects, presence in a JetStream key-value bucket with per-process
 * leases (see `presence.ts`).
 *
 * One connection, with `noEcho` (the server never sends a process its own
 * messages back). A process subscribes to one subject for broadcasts, and
 * to a room's (or a user's) subject only while it has a local member; the
 * client renews subscriptions by itself after a reconnect. Everything is
 * fire-and-forget for the hub: nothing here ever throws into it, and while
 * NATS is down the hub goes on delivering locally.
 *
 * @module
 */

import { connect, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { jetstream, StorageType } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { PresenceEvent } from "../protocol/mod.ts";
import type {
  Backplane,
  BackplaneHost,
  BackplaneMessage,
  BackplaneStats,
  BackplaneStatus,
  BackplaneTopic,
} from "../server/backplane.ts";
import { assertKnownOptions } from "../common/unknown_options.ts";
import type { PresenceEntry, PresenceStats } from "../server/types.ts";
import {
  decodeEnvelope,
  encodeMessage,
  encodePresenceEnvelope,
  unknownVersionWarning,
} from "../redis/envelope.ts";
import { KvPresence } from "./presence.ts";
import { token } from "./subjects.ts";

/**
 * Options of {@linkcode NatsBackplane}.
 *
 * @example
 * ```ts
 * import type { NatsBackplaneOptions } from "@wshub/hub/nats";
 *
 * const options: NatsBackplaneOptions = {
 *   servers: ["nats://10.0.0.1:4222", "nats://10.0.0.2:4222"],
 *   presenceTtl: 10_000,
 *   onStatus: (status) => console.log("backplane", status),
 * };
 * console.log(options.servers);
 * ```
 */
export interface NatsBackplaneOptions {
  /**
   * The NATS server, or several servers of one NATS cluster: `nats://host:port`
   * (or `tls://`, or `host:port`). The client tries them in turn and
   * reconnects to any of them.
   */
  servers: string | string[];
  /**
   * How long a process's presence outlives it when it dies without closing
   * (kill -9, a lost machine), in milliseconds: its lease is renewed every
   * third of it, and once the last renewal is older than this a surviving
   * process removes its members (leave events fire): at most ⁴⁄₃ of it
   * after the process died. Default 15,000.
   */
  presenceTtl?: number;
  /**
   * The prefix of every subject (`<prefix>.b`, `<prefix>.r.<room>`,
   * `<prefix>.u.<user>`) and of the presence bucket (`<prefix>_presence`),
   * to share one NATS between apps: letters, digits, `_` and `-`. Default
   * `"wshub"`.
   */
  prefix?: string;
  /** Called on each status change (with the error when it goes down). */
  onStatus?: (status: BackplaneStatus, error?: Error) => void;
}

/**
 * Counters of what a {@linkcode NatsBackplane} has done: those of every
 * backplane (its `roundTrip` is the NATS client's PING to the server, every
 * third of `presenceTtl`), and its presence upkeep's.
 *
 * @example
 * ```ts
 * import { NatsBackplane } from "@wshub/hub/nats";
 *
 * const backplane = new NatsBackplane({ servers: "nats://127.0.0.1:4222" });
 * const { published, presenceWrites } = backplane.stats();
 * console.log(published, presenceWrites); // 0 0: not started
 * ```
 */
export interface NatsBackplaneStats extends BackplaneStats {
  /** Writes of presence keys (compare-and-set) by this process. */
  presenceWrites: number;
  /** Presence writes that lost a race with another process's and were retried. */
  presenceConflicts: number;
  /** This process's presence changes waiting to be written (NATS down); should fall to 0. */
  presencePending: number;
  /** Dead processes whose presence this one removed. */
  reaped: number;
}

const DEFAULT_PRESENCE_TTL = 15_000;
/** How long a user's presence event in a room is remembered, to drop an older one arriving late. */
const REORDER_WINDOW = 5_000;
/** How long a key-value request may take before it fails, in ms. */
const REQUEST_TIMEOUT = 2_000;

/**
 * Makes several hub processes act as one over NATS: a broadcast, a user
 * message or a room publish made on any process reaches the right
 * connections on every process, and presence answers for the whole cluster.
 * Give it to a hub as its `backplane` option. Needs NATS ≥ 2.9 with
 * JetStream enabled (`nats-server -js`) for presence.
 *
 * What it guarantees, and what it does not:
 * - Messages one process publishes reach every other process's connections
 *   in the order it published them, each once (`noEcho`: a process never
 *   gets its own back). Counts returned by `broadcast`, `sendToUser` and
 *   `publish` are of local connections.
 * - It keeps no history: a hub given both this backplane and the `history`
 *   option throws at construction (see docs/clusters.md for why).
 * - While NATS is down, each process keeps delivering to its own
 *   connections; what crosses processes meanwhile is lost (core NATS keeps
 *   nothing). It reconnects by itself (every ~¼ s) and its subscriptions are
 *   renewed; cross-process traffic resumes without a restart.
 * - A process subscribes to a room's subject only while it has a member in
 *   the room (and to a user's while it has a connection of the user).
 * - Presence is cluster-wide: `hub.presence(room)` reads the bucket; join
 *   and leave events fire once per user in the whole cluster. A process that
 *   dies without closing has its members removed at most ⁴⁄₃ of
 *   `presenceTtl` after it died; one that closes removes them at once.
 *
 * @example Two processes, one NATS
 * ```ts ignore
 * import { Hub } from "@wshub/hub";
 * import { NatsBackplane } from "@wshub/hub/nats";
 *
 * const hub = new Hub({ backplane: new NatsBackplane({ servers: "nats://127.0.0.1:4222" }) });
 * Deno.serve({ port: Number(Deno.env.get("PORT") ?? 8000) }, (req) => hub.upgrade(req));
 * hub.broadcast("reaches every process's clients");
 * ```
 */
export class NatsBackplane implements Backplane {
  /** This process's id in the cluster. */
  readonly node: string = crypto.randomUUID();
  readonly #servers: string[];
  readonly #prefix: string;
  readonly #presenceTtl: number;
  readonly #onStatus: ((status: BackplaneStatus, error?: Error) => void) | undefined;
  readonly #presence: KvPresence;
  #host: BackplaneHost | undefined;
  #nc: NatsConnection | undefined;
  #status: BackplaneStatus = "connecting";
  #closed = false;
  /** The connect loop, until the first connection (later ones are the client's). */
  #connecting: Promise<void> | undefined;
  #retry: { timer: ReturnType<typeof setTimeout>; wake: () => void } | undefined;
  #watching: Promise<void> | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #ticking: Promise<void> | undefined;
  #tickAgain = false;
  /** Whether the bucket is to be (re)opened: after a (re)connect or a failure. */
  #reopen = true;
  #failing = false;
  /** Subjects wanted now, with their subscription once there is a connection. */
  readonly #subjects = new Map<string, Subscription | undefined>();
  /** The last presence event seen of each user in each room: its revision, and when. */
  readonly #versions = new Map<string, { revision: number; at: number }>();
  #warnedPayload = false;
  readonly #stats: BackplaneStats & { unknownVersion: number } = {
    published: 0,
    received: 0,
    dropped: 0,
    malformed: 0,
    unknownVersion: 0,
    channels: 0,
    roundTrip: undefined,
  };

  /**
   * Creates the backplane; it connects when a hub starts it.
   *
   * @throws {TypeError} If `servers` is not a server or a non-empty list of them, or `prefix` is invalid.
   * @throws {RangeError} If `presenceTtl` is not a number of at least 100 ms.
   */
  constructor(options: NatsBackplaneOptions) {
    if (typeof options !== "object" || options === null) {
      throw new TypeError("NatsBackplane needs options: new NatsBackplane({ servers })");
    }
    assertKnownOptions("NatsBackplane option", options, [
      "servers",
      "presenceTtl",
      "prefix",
      "onStatus",
    ]);
    const servers = typeof options?.servers === "string" ? [options.servers] : options?.servers;
    if (
      !Array.isArray(servers) || servers.length === 0 ||
      !servers.every((server) =>
        typeof server === "string" && /^((nats|tls):\/\/)?[^\s/:]+(:\d+)?\/?$/.test(server)
      )
    ) {
      throw new TypeError(
        `Invalid NatsBackplane option servers: ${
          options.servers === undefined ? "missing" : JSON.stringify(options.servers)
        }; use nats://host:port, or a list of them`,
      );
    }
    this.#servers = servers;
    const ttl = options.presenceTtl ?? DEFAULT_PRESENCE_TTL;
    if (typeof ttl !== "number" || !Number.isFinite(ttl) || ttl < 100) {
      throw new RangeError(
        `Invalid NatsBackplane option presenceTtl: ${ttl}; expected a number of ms, at least 100`,
      );
    }
    this.#presenceTtl = ttl;
    const prefix = options.prefix ?? "wshub";
    if (typeof prefix !== "string" || !/^[A-Za-z0-9_-]{1,64}$/.test(prefix)) {
      throw new TypeError(
        `Invalid NatsBackplane option prefix: ${
          JSON.stringify(prefix)
        }; use 1-64 letters, digits, _ and -`,
      );
    }
    this.#prefix = prefix;
    this.#onStatus = options.onStatus;
    this.#presence = new KvPresence({
      node: this.node,
      bucket: `${prefix}_presence`,
      ttl,
      transition: (event, revision) => this.#transition(event, revision),
      up: () => this.#status === "up",
      logger: () => this.#host?.logger,
    });
  }

  /** Where its connection to NATS is. */
  get status(): BackplaneStatus {
    return this.#status;
  }

  /** Counters of what it has done. */
  stats(): NatsBackplaneStats {
    const { writes, conflicts, reaped } = this.#presence.counters;
    return {
      ...this.#stats,
      channels: this.#subjects.size,
      presenceWrites: writes,
      presenceConflicts: conflicts,
      presencePending: this.#presence.pending,
      reaped,
    };
  }

  /**
   * Called by the hub: connects (retrying in the background while NATS is
   * down), subscribes to broadcasts, and takes its presence lease.
   */
  start(host: BackplaneHost): void {
    if (this.#host !== undefined) {
      throw new Error("A NatsBackplane serves one hub; create one per hub");
    }
    this.#host = host;
    this.#want(this.#subject("b"));
    this.#timer = setInterval(
      () => void this.#tick(),
      Math.max(50, Math.floor(this.#presenceTtl / 3)),
    );
    this.#connecting = this.#connectLoop();
  }

  publish(message: BackplaneMessage): void {
    if (this.#closed) return;
    const subject = message.kind === "broadcast"
      ? this.#subject("b")
      : message.kind === "user" || message.kind === "disconnect"
      ? this.#subject("u", message.user)
      : this.#subject("r", message.room);
    this.#send(subject, encodeMessage(this.node, message));
  }

  subscribe(topic: BackplaneTopic): void {
    this.#want(
      topic.kind === "room" ? this.#subject("r", topic.room) : this.#subject("u", topic.user),
    );
  }

  unsubscribe(topic: BackplaneTopic): void {
    const subject = topic.kind === "room"
      ? this.#subject("r", topic.room)
      : this.#subject("u", topic.user);
    if (!this.#subjects.has(subject)) return;
    const subscription = this.#subjects.get(subject);
    this.#subjects.delete(subject);
    try {
      subscription?.unsubscribe();
    } catch {
      // the connection is closed
    }
    if (topic.kind === "room") {
      // Events of a room without local members are not delivered here: forget their order.
      const start = topic.room + "\u0000";
      for (const key of this.#versions.keys()) {
        if (key.startsWith(start)) this.#versions.delete(key);
      }
    }
  }

  presenceChanged(room: string, user: string, delta: 1 | -1): void {
    this.#presence.changed(room, user, delta);
  }

  presence(room: string): Promise<PresenceEntry[]> {
    return this.#presence.read(room);
  }

  /**
   * A room's users and connections across the cluster. The bucket keeps no
   * total: this reads the room's keys as `presence` does (one request per
   * user, 64 at a time) and sums them, without handing a list to the hub.
   */
  async presenceStats(room: string): Promise<PresenceStats> {
    const entries = await this.#presence.read(room);
    let connections = 0;
    for (const entry of entries) connections += entry.connections;
    return { users: entries.length, connections };
  }

  /**
   * Leaves the cluster: this process's presence is removed at once (leave
   * events fire for users who had no connection elsewhere), its lease is
   * dropped, and the connection closes.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#retry !== undefined) {
      clearTimeout(this.#retry.timer);
      this.#retry.wake();
    }
    await this.#connecting;
    await this.#ticking;
    const nc = this.#nc;
    if (nc !== undefined && this.#status === "up" && this.#presence.attached) {
      try {
        await this.#presence.leave();
      } catch (error) {
        this.#host?.logger.warn("wshub: could not remove this process's presence from NATS", {
          error,
        });
      }
    }
    if (nc !== undefined) {
      try {
        if (this.#status === "up") await nc.flush();
        await nc.close();
      } catch {
        // already closed
      }
      await this.#watching;
    }
    this.#setStatus("closed");
  }

  // The connection

  async #connectLoop(): Promise<void> {
    for (let attempt = 0; !this.#closed; attempt++) {
      try {
        const nc = await connect({
          servers: this.#servers,
          name: `wshub ${this.node}`,
          noEcho: true,
          maxReconnectAttempts: -1,
          reconnectTimeWait: 250,
          reconnectJitter: 100,
          pingInterval: Math.min(5_000, Math.max(100, Math.floor(this.#presenceTtl / 3))),
          maxPingOut: 3,
          timeout: REQUEST_TIMEOUT,
        });
        if (this.#closed) {
          await nc.close().catch(() => {});
          return;
        }
        this.#nc = nc;
        this.#watching = this.#watch(nc);
        for (const subject of this.#subjects.keys()) this.#subscribeNow(subject);
        this.#up();
        return;
      } catch (error) {
        if (this.#closed) return;
        this.#down(error instanceof Error ? error : new Error(String(error)));
        // 50 ms doubling to a 1 s cap, with jitter; never gives up.
        const ms = Math.min(50 * 2 ** attempt, 1_000) + Math.floor(Math.random() * 100);
        await new Promise<void>((wake) => {
          this.#retry = { timer: setTimeout(wake, ms), wake };
        });
        this.#retry = undefined;
      }
    }
  }

  async #watch(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (this.#closed) continue;
      switch (status.type) {
        case "disconnect":
          this.#down(new Error(`lost the connection to NATS at ${status.server}`));
          break;
        case "reconnect":
          this.#up();
          break;
        case "error":
          this.#host?.logger.warn("wshub: NATS error", { error: status.error });
          break;
        case "slowConsumer":
          this.#host?.logger.warn("wshub: NATS slow consumer: messages from other processes lost", {
            subject: status.sub.getSubject(),
            pending: status.pending,
          });
          break;
      }
    }
  }

  #up(): void {
    this.#reopen = true; // the server may have restarted, without the bucket
    this.#setStatus("up");
    void this.#tick();
  }

  #down(error: Error): void {
    if (this.#status !== "down") {
      this.#host?.logger.debug("wshub: NATS error", { error: error.message });
    }
    this.#setStatus("down", error);
  }

  #setStatus(status: BackplaneStatus, error?: Error): void {
    if (status === this.#status) return;
    this.#status = status;
    this.#host?.status(status, error);
    try {
      this.#onStatus?.(status, error);
    } catch {
      // the application's listener must not break the backplane
    }
  }

  // Messages

  #want(subject: string): void {
    if (this.#subjects.has(subject)) return;
    this.#subjects.set(subject, undefined);
    if (this.#nc !== undefined && !this.#closed) this.#subscribeNow(subject);
  }

  #subscribeNow(subject: string): void {
    try {
      this.#subjects.set(
        subject,
        this.#nc!.subscribe(subject, {
          callback: (error, message) => {
            if (error !== null) {
              this.#host?.logger.warn("wshub: NATS subscription failed", { subject, error });
            } else this.#heard(message.data);
          },
        }),
      );
    } catch (error) {
      this.#host?.logger.warn("wshub: NATS SUB failed", { subject, error });
    }
  }

  #send(subject: string, bytes: Uint8Array): void {
    const nc = this.#nc;
    if (nc === undefined || this.#status !== "up") {
      this.#stats.dropped++;
      return;
    }
    try {
      nc.publish(subject, bytes);
      this.#stats.published++;
    } catch (error) {
      // Past the server's max_payload (1 MB by default), or the connection just closed.
      this.#stats.dropped++;
      if (!this.#warnedPayload) {
        this.#warnedPayload = true;
        this.#host?.logger.warn(
          "wshub: a message could not be published on NATS (other processes did not get it); " +
            "the next such failures are only counted (dropped)",
          { subject, bytes: bytes.byteLength, error },
        );
      }
    }
  }

  #heard(bytes: Uint8Array): void {
    const envelope = decodeEnvelope(bytes, this.node);
    if (envelope === undefined) {
      this.#stats.malformed++;
      return;
    }
    if ("version" in envelope) {
      if (this.#stats.unknownVersion++ === 0) {
        this.#host?.logger.warn(unknownVersionWarning(envelope));
      }
      return;
    }
    if (envelope.origin === this.node) return; // noEcho: never, unless the server ignores it
    this.#stats.received++;
    const host = this.#host;
    if (host === undefined || this.#closed) return;
    if ("message" in envelope) return host.deliver(envelope.message);
    const presence = envelope.presence as unknown as Record<string, unknown> | null;
    const { room, user, event, v } = presence ?? {};
    if (
      typeof room !== "string" || typeof user !== "string" ||
      (event !== "join" && event !== "leave")
    ) {
      this.#stats.malformed++;
      return;
    }
    if (typeof v === "number" && !this.#fresh(room, user, v)) return;
    host.presence({ room, user, event }, false);
  }

  /** A transition this process's write made: the hub hears it, and so do the room's other processes. */
  #transition(event: PresenceEvent, revision: number): void {
    this.#fresh(event.room, event.user, revision);
    this.#host?.presence(event, true);
    const body = { ...event, v: revision };
    this.#send(this.#subject("r", event.room), encodePresenceEnvelope(this.node, body));
  }

  /**
   * Whether a presence event of revision `revision` is newer than the last
   * seen for the user in the room (two processes' events can cross on the
   * way); records it if so.
   */
  #fresh(room: string, user: string, revision: number): boolean {
    const key = room + "\u0000" + user;
    const now = performance.now();
    const last = this.#versions.get(key);
    if (last !== undefined && last.revision >= revision && now - last.at < REORDER_WINDOW) {
      return false;
    }
    this.#versions.set(key, { revision, at: now });
    return true;
  }

  // Presence upkeep, every third of presenceTtl and on each (re)connect

  #tick(): Promise<void> {
    if (this.#ticking !== undefined) {
      this.#tickAgain = true;
      return this.#ticking;
    }
    this.#ticking = this.#upkeep().finally(() => {
      this.#ticking = undefined;
      if (this.#tickAgain && !this.#closed) {
        this.#tickAgain = false;
        void this.#tick();
      }
    });
    return this.#ticking;
  }

  async #upkeep(): Promise<void> {
    const nc = this.#nc;
    if (this.#closed || nc === undefined || this.#status !== "up") return;
    nc.rtt().then((ms) => this.#stats.roundTrip = ms, () => {});
    const now = performance.now();
    for (const [key, { at }] of this.#versions) {
      if (now - at >= REORDER_WINDOW) this.#versions.delete(key);
    }
    try {
      if (this.#reopen) {
        this.#reopen = false;
        const js = jetstream(nc, { timeout: REQUEST_TIMEOUT });
        const bucket = `${this.#prefix}_presence`;
        // A bucket made with other settings (by hand) is used as it is.
        const kv = await new Kvm(js).create(bucket, { history: 1, storage: StorageType.Memory })
          .catch(() => new Kvm(js).open(bucket));
        this.#presence.attach(kv, await js.jetstreamManager());
      }
      await this.#presence.upkeep();
      this.#failing = false;
    } catch (error) {
      this.#reopen = true;
      if (this.#closed) return;
      const log = this.#host?.logger;
      if (!this.#failing) {
        log?.warn(
          "wshub: NATS presence upkeep failed (is JetStream enabled? nats-server -js); retrying",
          { error },
        );
      } else log?.debug("wshub: NATS presence upkeep failed", { error });
      this.#failing = true;
    }
  }

  // Names

  #subject(kind: "b" | "u" | "r", name?: string): string {
    return name === undefined
      ? `${this.#prefix}.${kind}`
      : `${this.#prefix}.${kind}.${token(name)}`;
  }
}
