/**
 * Cluster-wide presence for `RedisBackplane`: each process's share of each
 * room's users, kept in Redis with a lease, so that join and leave events
 * fire once per user in the whole cluster, and a process that dies without
 * closing has its share removed by another within about `presenceTtl`.
 *
 * The scripts (`scripts.ts`) apply every change atomically: two processes
 * changing one room's presence at once cannot both see themselves first or
 * last. The changes made in one turn of the event loop (one batch of the
 * hub's scheduler: a reconnect storm's thousands of joins come in few) go
 * to Redis as one call, each user's changes in a room summed first (a leave
 * and a rejoin in one turn cost nothing). While Redis is down, or after a
 * failed change, this process's share is "dirty": the next upkeep makes
 * Redis hold exactly what it holds (`PRESENCE_SYNC`), firing events for
 * what changed meanwhile.
 *
 * @module
 */

import { clearImmediate, setImmediate } from "node:timers";
import type { PresenceEvent } from "../protocol/mod.ts";
import type { BackplaneHost } from "../server/backplane.ts";
import type { PresenceEntry, PresenceStats } from "../server/types.ts";
import type { Names } from "./names.ts";

/** What presence needs from its backplane: the commands connection's operations, and names. */
export interface PresenceLink {
  /** This process's id in the cluster (the envelopes' origin). */
  readonly node: string;
  /** Whether the commands connection is ready. */
  ready(): boolean;
  /** The names of keys and channels. */
  readonly names: Names;
  /** The hub, once started. */
  host(): BackplaneHost | undefined;
  /**
   * `PRESENCE_DELTAS`: applies triples room, user, delta; resolves with
   * room, user, event triples of the transitions it made.
   */
  deltas(nodeKey: string, header: string, triples: string[]): Promise<string[]>;
  /** `PRESENCE_STATS`: a room's users and connections. */
  stats(room: string): Promise<PresenceStats>;
  /** `PRESENCE_SYNC`: resolves with room, user, event triples of the transitions it caused. */
  sync(
    nodeKey: string,
    nodesKey: string,
    leaseKey: string,
    node: string,
    leaseMs: number,
    entries: string[],
  ): Promise<string[]>;
  /** `PRESENCE_DROP_NODE` run by this process: resolves with room, user pairs that left. */
  drop(nodeKey: string, nodesKey: string, leaseKey: string, node: string): Promise<string[]>;
  /** HGETALL. */
  hGetAll(key: string): Promise<Record<string, string>>;
  /** SET with PX, and NX when asked; resolves "OK" when set. */
  set(key: string, value: string, ttl: number, nx?: boolean): Promise<string | null>;
  /** SMEMBERS. */
  sMembers(key: string): Promise<string[]>;
  /** EXISTS of one key. */
  exists(key: string): Promise<boolean>;
}

const SEPARATOR = "\u0000";

/** This process's share of presence, its lease, and the reaping of dead processes' shares. */
export class RedisPresence {
  readonly #link: PresenceLink;
  readonly #ttl: number;
  /** This process's count of each user's connections in each room, as `room\0user`. */
  readonly #counts = new Map<string, number>();
  /** Whether Redis may not hold this process's share as it is (after an outage, a failure). */
  #dirty = true;
  /** Changes of this turn, summed per `room\0user`, going to Redis as one call. */
  readonly #pending = new Map<string, number>();
  #flush: ReturnType<typeof setImmediate> | undefined;
  /** Calls that carried changes to Redis (each with every change of one turn). */
  calls = 0;

  /** `ttl` is the lease's length, `presenceTtl`. */
  constructor(link: PresenceLink, ttl: number) {
    this.#link = link;
    this.#ttl = ttl;
  }

  /** Redis may have lost or missed this process's share: the next upkeep writes it again. */
  invalidate(): void {
    this.#dirty = true;
  }

  /**
   * This process's count of `user`'s connections in `room` changed by
   * `delta`: the cluster's count follows at the end of this turn of the
   * event loop, with every other change of the turn (or at the next upkeep
   * when Redis is not ready), and the hub hears the cluster-wide
   * transitions it made.
   */
  changed(room: string, user: string, delta: 1 | -1): void {
    const field = room + SEPARATOR + user;
    const count = (this.#counts.get(field) ?? 0) + delta;
    if (count > 0) this.#counts.set(field, count);
    else this.#counts.delete(field);
    if (this.#dirty || !this.#link.ready()) {
      this.#dirty = true; // the next sync sets Redis to what we hold
      return;
    }
    this.#pending.set(field, (this.#pending.get(field) ?? 0) + delta);
    this.#flush ??= setImmediate(() => this.#send());
  }

  /** Sends this turn's changes as one call (changes that summed to nothing are not sent). */
  #send(): void {
    this.#flush = undefined;
    const link = this.#link;
    if (this.#dirty || !link.ready()) {
      this.#pending.clear();
      this.#dirty = true;
      return;
    }
    const triples: string[] = [];
    for (const [field, delta] of this.#pending) {
      if (delta === 0) continue;
      const sep = field.indexOf(SEPARATOR);
      triples.push(field.slice(0, sep), field.slice(sep + 1), String(delta));
    }
    this.#pending.clear();
    if (triples.length === 0) return;
    this.calls++;
    const header = JSON.stringify({ o: link.node, k: "p" });
    link.deltas(this.#nodeKey(), header, triples).then(
      (changes) => this.#fired(changes),
      () => this.#dirty = true,
    );
  }

  /** Stops the turn's call, if one is due (the backplane is closing). */
  stop(): void {
    clearImmediate(this.#flush);
    this.#flush = undefined;
    this.#pending.clear();
  }

  /** A room's users and connections across the cluster, without the list. */
  stats(room: string): Promise<PresenceStats> {
    return this.#link.stats(room);
  }

  /** The identified users in `room` across the cluster, with their connection counts. */
  async list(room: string): Promise<PresenceEntry[]> {
    const users = await this.#link.hGetAll(this.#link.names.presence(room));
    return Object.entries(users).map(([user, connections]) => ({
      user,
      connections: Number(connections),
    }))
      .filter((entry) => entry.connections > 0);
  }

  /**
   * Every third of the lease: renews it (or, when dirty, writes the whole
   * share again), then removes the shares of processes whose lease lapsed.
   * Never rejects: a failure marks the share dirty, for the next upkeep.
   */
  async upkeep(): Promise<void> {
    const link = this.#link;
    try {
      if (this.#dirty) await this.#sync();
      else await link.set(this.#leaseKey(link.node), "1", this.#ttl);
      await this.#reapDead();
    } catch (error) {
      this.#dirty = true;
      link.host()?.logger.debug("wshub: Redis presence upkeep failed", { error });
    }
  }

  /**
   * Leaves the cluster: this process's share is removed at once (leave
   * events fire for users who had no connection elsewhere) and its lease
   * dropped. Logs, never rejects, when Redis does not take it.
   */
  async leave(): Promise<void> {
    const link = this.#link;
    if (!link.ready()) return;
    try {
      const left = await link.drop(
        this.#nodeKey(),
        link.names.nodes(),
        this.#leaseKey(link.node),
        link.node,
      );
      this.#firedLeaves(left);
    } catch (error) {
      link.host()?.logger.warn("wshub: could not remove this process's presence from Redis", {
        error,
      });
    }
  }

  /** Makes Redis hold this process's share as it is, and renews the lease. */
  async #sync(): Promise<void> {
    this.#dirty = false;
    const link = this.#link;
    const entries: string[] = [];
    for (const [field, count] of this.#counts) {
      const [room, user] = field.split(SEPARATOR);
      entries.push(room, user, String(count));
    }
    const changes = await link.sync(
      this.#nodeKey(),
      link.names.nodes(),
      this.#leaseKey(link.node),
      link.node,
      this.#ttl,
      entries,
    );
    this.#fired(changes);
  }

  /** Tells the hub the transitions a script made: room, user, event triples. */
  #fired(changes: string[]): void {
    const host = this.#link.host();
    for (let i = 0; i + 2 < changes.length; i += 3) {
      const event = {
        room: changes[i],
        user: changes[i + 1],
        event: changes[i + 2],
      } as PresenceEvent;
      host?.presence(event, true);
    }
  }

  /** Removes the shares of processes whose lease expired (one process does it: SET NX). */
  async #reapDead(): Promise<void> {
    const link = this.#link;
    const nodes = await link.sMembers(link.names.nodes());
    for (const node of nodes) {
      if (node === link.node) continue;
      if (await link.exists(this.#leaseKey(node))) continue;
      const claimed = await link.set(link.names.reap(node), link.node, this.#ttl, true);
      if (claimed !== "OK") continue;
      const left = await link.drop(
        link.names.share(node),
        link.names.nodes(),
        this.#leaseKey(node),
        node,
      );
      link.host()?.logger.info(
        "wshub: removed the presence of a process that stopped renewing it",
        {
          node,
          usersLeft: left.length / 2,
        },
      );
      this.#firedLeaves(left);
    }
  }

  #firedLeaves(left: string[]): void {
    for (let i = 0; i + 1 < left.length; i += 2) {
      this.#link.host()?.presence({ room: left[i], user: left[i + 1], event: "leave" }, true);
    }
  }

  #nodeKey(): string {
    return this.#link.names.share(this.#link.node);
  }

  #leaseKey(node: string): string {
    return this.#link.names.lease(node);
  }
}
