/**
 * Cluster-wide presence in a NATS JetStream key-value bucket, for
 * `NatsBackplane`.
 *
 * NATS 2.9's key-value store has compare-and-set by revision but no TTL per
 * key, so presence is kept like this (keys of the bucket, names escaped by
 * `token()`):
 *
 * - `r.<room>.<user>`: one user's connections in one room, as JSON
 *   `{ room, user, holders: { <holder>: count } }`. Every change is a
 *   compare-and-set on the revision it read: two processes changing it at
 *   once cannot both see the user's total go 0 → n (or n → 0), so join and
 *   leave events fire once in the cluster, from the process whose write
 *   made the transition. A value that falls to no holder is purged.
 * - `l.<holder>`: a holder's lease, `{ node, ttl }`, renewed every third of
 *   `presenceTtl`. A holder is one process's incarnation: `<node>_<n>`, a
 *   new one each time the process finds its lease gone (NATS lost its data,
 *   or other processes took it for dead), so that nothing written under a
 *   lease taken for dead is mistaken for live presence.
 * - `s.<holder>.<room>`: the rooms where a holder has a share (the value is
 *   the room's name), written before its first share in the room, so that
 *   the holder's shares can be found when it dies.
 *
 * A lease is expired when the server's timestamp of its last renewal is
 * more than its `ttl` older than the server's timestamp of the checking
 * process's own renewal (no clock but the server's is read). The first
 * process to notice marks the lease dead (compare-and-set again), removes
 * the holder's share from each of its rooms (leave events fire for users
 * who had no connection elsewhere), and purges its keys. If it dies doing
 * so, another takes over once the mark is `ttl` old. So a process that dies
 * without closing leaves presence at most ⁴⁄₃ of `presenceTtl` after its
 * last renewal (plus the few requests the removal takes).
 *
 * Each process converges its share of each `r.` key to its local count:
 * one write at a time per key, retried on conflict, and rewritten after an
 * outage or a loss of the bucket, so a burst of joins and leaves costs at
 * most a write per key in flight.
 *
 * @module
 */

import { JetStreamApiCodes, JetStreamApiError, type JetStreamManager } from "@nats-io/jetstream";
import type { KV, KvEntry } from "@nats-io/kv";
import type { PresenceEvent } from "../protocol/mod.ts";
import type { Logger } from "../server/logger.ts";
import type { PresenceEntry } from "../server/types.ts";
import { token } from "./subjects.ts";

const SEPARATOR = "\u0000";
/** The most keys changed at once when a process leaves or another's presence is removed. */
const PARALLEL = 64;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A `r.` value. */
interface Share {
  room: string;
  user: string;
  holders: Record<string, number>;
}

/** A `l.` value. */
interface Lease {
  node: string;
  ttl: number;
  /** The holder that took it for dead, and is removing its presence. */
  dead?: string;
}

/** What was read or written last for a key: its revision (0: no value) and value. */
interface Known {
  revision: number;
  share: Share | undefined;
}

type Marker = { state: "present" } | { state: "busy"; done: Promise<void> };

/** Thrown inside a write whose holder was replaced meanwhile: the write is redone. */
class Replaced extends Error {}

/** What {@linkcode KvPresence} needs from its backplane. */
export interface PresenceHooks {
  /** This process's id. */
  node: string;
  /** The bucket's name. */
  bucket: string;
  /** Leases' lifetime, in ms. */
  ttl: number;
  /**
   * A cluster-wide transition this process's write made (or its removal of
   * a dead process's presence): `revision` is the write's, so that events of
   * one user in one room can be ordered.
   */
  transition(event: PresenceEvent, revision: number): void;
  /** Whether the connection is up (writes are not attempted otherwise). */
  up(): boolean;
  /** Where to log. */
  logger(): Logger | undefined;
}

/** Counters of presence upkeep. */
export interface PresenceCounters {
  /** Writes of presence keys. */
  writes: number;
  /** Writes that lost a compare-and-set race and were retried. */
  conflicts: number;
  /** Dead processes' presence removed by this one. */
  reaped: number;
}

/** The presence of one process in the bucket: its local counts, its lease, its writes, the reaper. */
export class KvPresence {
  readonly #hooks: PresenceHooks;
  #kv: KV | undefined;
  #jsm: JetStreamManager | undefined;
  #incarnation = 0;
  #holder: string;
  /** The lease's last revision; `undefined` until it is written for the current holder. */
  #lease: number | undefined;
  /** This process's count of each user's connections in each room, as `room\0user`. */
  readonly #local = new Map<string, number>();
  /** Fields whose share, under the current holder, may be non-zero in the bucket. */
  readonly #held = new Set<string>();
  readonly #heldPerRoom = new Map<string, number>();
  /** The last value known of each held field's key. */
  readonly #known = new Map<string, Known>();
  /** Fields whose share is to be written. */
  readonly #dirty = new Set<string>();
  readonly #running = new Map<string, Promise<void>>();
  readonly #markers = new Map<string, Marker>();
  /** Former holders of this process, whose shares it removes itself (see `#reincarnate`). */
  readonly #orphans: { holder: string; fields: string[] }[] = [];
  /** Dead holders this process is removing. */
  readonly #reaping = new Set<string>();
  #closing = false;
  readonly counters: PresenceCounters = { writes: 0, conflicts: 0, reaped: 0 };

  constructor(hooks: PresenceHooks) {
    this.#hooks = hooks;
    this.#holder = `${hooks.node}_0`;
  }

  /** Whether a bucket is attached (presence can be read). */
  get attached(): boolean {
    return this.#kv !== undefined;
  }

  /** Fields whose share waits to be written (an outage, a failure): should fall to 0. */
  get pending(): number {
    return this.#dirty.size;
  }

  /** Uses `kv` from now on (after a connect or a reconnect). */
  attach(kv: KV, jsm: JetStreamManager): void {
    this.#kv = kv;
    this.#jsm = jsm;
  }

  /** This process's count of `user`'s connections in `room` changed by `delta`. */
  changed(room: string, user: string, delta: 1 | -1): void {
    const field = room + SEPARATOR + user;
    const count = (this.#local.get(field) ?? 0) + delta;
    if (count > 0) this.#local.set(field, count);
    else this.#local.delete(field);
    if (!this.#closing) this.#schedule(field);
  }

  /** The users in `room` across the cluster, with their connection counts. */
  async read(room: string): Promise<PresenceEntry[]> {
    const kv = this.#kv;
    if (kv === undefined) throw new Error("NATS presence is not available yet");
    const keys = await this.#keys(`r.${token(room)}.>`);
    const entries = await inBatches(keys, (key) => kv.get(key));
    const out: PresenceEntry[] = [];
    for (const entry of entries) {
      const share = entry === null ? undefined : parseShare(entry);
      if (share === undefined || share.room !== room) continue;
      const connections = total(share);
      if (connections > 0) out.push({ user: share.user, connections });
    }
    return out;
  }

  /**
   * Renews the lease (writing it, and every share, for a new holder), writes
   * what waits, cleans former holders' shares and removes dead processes'
   * presence. Throws when NATS fails (the caller retries later).
   */
  async upkeep(): Promise<void> {
    const kv = this.#kv;
    if (kv === undefined || this.#closing) return;
    const key = `l.${this.#holder}`;
    const lease = json<Lease>({ node: this.#hooks.node, ttl: this.#hooks.ttl });
    if (this.#lease === undefined) {
      this.#lease = await kv.create(key, lease);
      for (const field of this.#local.keys()) this.#dirty.add(field);
    } else {
      try {
        this.#lease = await kv.update(key, lease, this.#lease);
      } catch (error) {
        if (!conflict(error)) throw error;
        this.#hooks.logger()?.info(
          "wshub: this process's presence lease was gone from NATS (NATS lost it, or the process " +
            "was taken for dead): writing its presence again",
          { node: this.#hooks.node },
        );
        this.#reincarnate();
        return this.upkeep();
      }
    }
    for (const field of [...this.#dirty]) this.#schedule(field);
    const mine = await kv.get(key);
    if (mine === null) return;
    await this.#cleanOrphans(kv);
    await this.#reapDead(kv, mine.created.getTime());
  }

  /**
   * Removes this process's presence at once (it is closing): every share is
   * written to 0 (leave events fire for users with no connection
   * elsewhere), then its markers and lease are purged.
   */
  async leave(): Promise<void> {
    this.#closing = true;
    await Promise.allSettled([...this.#running.values()]);
    const kv = this.#kv;
    const jsm = this.#jsm;
    if (kv === undefined || jsm === undefined || this.#lease === undefined) return;
    const holder = this.#holder;
    await inBatches([...this.#held], (field) => this.#write(field, holder));
    await this.#purge(`s.${holder}.>`);
    await this.#purge(`l.${holder}`);
  }

  // Writing this process's shares

  #schedule(field: string): void {
    this.#dirty.add(field);
    if (this.#running.has(field)) return;
    if (this.#kv === undefined || this.#lease === undefined || !this.#hooks.up()) return;
    const run = this.#converge(field).then((done) => {
      this.#running.delete(field);
      // Changed again between the last write's end and now: go on.
      if (done && this.#dirty.has(field) && !this.#closing) this.#schedule(field);
    });
    this.#running.set(field, run);
  }

  /** Writes until the field is not dirty (true), or a failure leaves it for the upkeep (false). */
  async #converge(field: string): Promise<boolean> {
    while (this.#dirty.delete(field)) {
      try {
        await this.#write(field, this.#holder);
      } catch (error) {
        this.#dirty.add(field);
        if (!(error instanceof Replaced)) {
          this.#hooks.logger()?.debug("wshub: a NATS presence write failed; retried later", {
            error,
          });
          return false;
        }
        // Written again under the new holder once its lease is (see upkeep).
        if (this.#closing || this.#lease === undefined) return false;
      }
    }
    return true;
  }

  /** Makes `holder`'s share of `field`'s key equal to the local count (0 when closing). */
  async #write(field: string, holder: string): Promise<void> {
    const kv = this.#kv!;
    const sep = field.indexOf(SEPARATOR);
    const room = field.slice(0, sep);
    const user = field.slice(sep + 1);
    const key = `r.${token(room)}.${token(user)}`;
    while (true) {
      const target = this.#closing ? 0 : this.#local.get(field) ?? 0;
      if (target > 0) {
        this.#hold(field, room);
        await this.#mark(room, holder);
        this.#check(holder);
      }
      let known = this.#known.get(field);
      if (known === undefined) {
        known = await read(kv, key);
        this.#check(holder);
      }
      const holders = { ...known.share?.holders };
      if ((holders[holder] ?? 0) === target) {
        if (target === 0) this.#unhold(field, room, holder);
        else this.#known.set(field, known);
        return;
      }
      if (target > 0) holders[holder] = target;
      else delete holders[holder];
      const share: Share = { room, user, holders };
      let revision: number;
      try {
        revision = known.revision === 0
          ? await kv.create(key, json(share))
          : await kv.update(key, json(share), known.revision);
        this.counters.writes++;
      } catch (error) {
        this.#known.delete(field);
        if (!conflict(error)) throw error;
        this.counters.conflicts++;
        this.#check(holder);
        continue;
      }
      this.#transition(known.share, share, revision);
      if (total(share) === 0) this.#purgeValue(key, revision);
      if (target === 0) {
        this.#unhold(field, room, holder);
        return;
      }
      this.#known.set(field, { revision, share });
      // The local count may have changed during the write: go on until it matches.
      if (holder !== this.#holder) throw new Replaced();
    }
  }

  /** Throws {@linkcode Replaced} when `holder` is no longer this process's. */
  #check(holder: string): void {
    if (holder !== this.#holder) throw new Replaced();
  }

  #transition(before: Share | undefined, after: Share, revision: number): void {
    const was = before === undefined ? 0 : total(before);
    const now = total(after);
    const event = was === 0 && now > 0 ? "join" : was > 0 && now === 0 ? "leave" : undefined;
    if (event !== undefined) {
      this.#hooks.transition({ room: after.room, user: after.user, event }, revision);
    }
  }

  #hold(field: string, room: string): void {
    if (this.#held.has(field)) return;
    this.#held.add(field);
    this.#heldPerRoom.set(room, (this.#heldPerRoom.get(room) ?? 0) + 1);
  }

  #unhold(field: string, room: string, holder: string): void {
    this.#known.delete(field);
    if (!this.#held.delete(field)) return;
    const left = (this.#heldPerRoom.get(room) ?? 1) - 1;
    if (left > 0) {
      this.#heldPerRoom.set(room, left);
      return;
    }
    this.#heldPerRoom.delete(room);
    this.#unmark(room, holder);
  }

  /** Writes the marker of `room` for `holder`, unless it is there. */
  async #mark(room: string, holder: string): Promise<void> {
    while (true) {
      const marker = this.#markers.get(room);
      if (marker?.state === "present") return;
      if (marker?.state === "busy") {
        await marker.done.catch(() => {});
        this.#check(holder);
        continue;
      }
      const done = this.#kv!.put(`s.${holder}.${token(room)}`, encoder.encode(room)).then(() => {});
      this.#markers.set(room, { state: "busy", done });
      try {
        await done;
        if (isBusy(this.#markers.get(room), done)) this.#markers.set(room, { state: "present" });
      } catch (error) {
        if (isBusy(this.#markers.get(room), done)) this.#markers.delete(room);
        throw error;
      }
    }
  }

  /** Purges the marker of `room`: the holder has no share there any more. */
  #unmark(room: string, holder: string): void {
    if (this.#markers.get(room)?.state !== "present" || this.#closing) return;
    const done = this.#purge(`s.${holder}.${token(room)}`);
    this.#markers.set(room, { state: "busy", done });
    done.then(
      () => isBusy(this.#markers.get(room), done) && this.#markers.delete(room),
      // Maybe still there: harmless (the holder's markers go when it leaves or is removed).
      () => isBusy(this.#markers.get(room), done) && this.#markers.set(room, { state: "present" }),
    );
  }

  /**
   * The lease is gone: writes go on under a new holder, and the former one's
   * shares are removed by this process once its writes in flight are done
   * (a write that landed after a reaper passed would otherwise stay).
   */
  #reincarnate(): void {
    this.#orphans.push({ holder: this.#holder, fields: [...this.#held] });
    this.#holder = `${this.#hooks.node}_${++this.#incarnation}`;
    this.#lease = undefined;
    this.#held.clear();
    this.#heldPerRoom.clear();
    this.#known.clear();
    this.#markers.clear();
  }

  async #cleanOrphans(kv: KV): Promise<void> {
    if (this.#orphans.length === 0) return;
    await Promise.allSettled([...this.#running.values()]);
    while (this.#orphans.length > 0) {
      const { holder, fields } = this.#orphans[0];
      const keys = fields.map((field) => {
        const sep = field.indexOf(SEPARATOR);
        return `r.${token(field.slice(0, sep))}.${token(field.slice(sep + 1))}`;
      });
      await inBatches(keys, (key) => this.#removeHolder(kv, key, holder));
      await this.#purge(`s.${holder}.>`);
      await this.#purge(`l.${holder}`);
      this.#orphans.shift();
    }
  }

  // Other processes' deaths

  async #reapDead(kv: KV, now: number): Promise<void> {
    const mine = `l.${this.#holder}`;
    for (const key of await this.#keys("l.>")) {
      if (key === mine) continue;
      const holder = key.slice(2);
      if (this.#reaping.has(holder)) continue;
      const entry = await kv.get(key);
      if (entry === null || entry.operation !== "PUT") continue;
      const lease = parse<Lease>(entry.value);
      const ttl = typeof lease?.ttl === "number" ? lease.ttl : this.#hooks.ttl;
      const age = now - entry.created.getTime();
      // A live lease, or one another process is removing (unless it has been at it for a ttl).
      if (age <= ttl) continue;
      try {
        await kv.update(key, json<Lease>({ ...lease!, dead: this.#holder }), entry.revision);
      } catch (error) {
        if (conflict(error)) continue; // renewed, or claimed by another process, meanwhile
        throw error;
      }
      this.#reaping.add(holder);
      try {
        const left = await this.#reap(kv, holder);
        this.counters.reaped++;
        this.#hooks.logger()?.info(
          "wshub: removed the presence of a process that stopped renewing it",
          { holder, usersLeft: left },
        );
      } finally {
        this.#reaping.delete(holder);
      }
    }
  }

  /** Removes a dead holder's shares; returns how many users left the cluster with it. */
  async #reap(kv: KV, holder: string): Promise<number> {
    const markers = await this.#keys(`s.${holder}.>`);
    let left = 0;
    for (const marker of markers) {
      const entry = await kv.get(marker);
      if (entry === null || entry.operation !== "PUT") continue;
      const keys = await this.#keys(`r.${token(decoder.decode(entry.value))}.>`);
      const results = await inBatches(keys, (key) => this.#removeHolder(kv, key, holder));
      left += results.filter(Boolean).length;
    }
    await this.#purge(`s.${holder}.>`);
    await this.#purge(`l.${holder}`);
    return left;
  }

  /** Removes `holder`'s share from `key`; true when its user left the cluster with it. */
  async #removeHolder(kv: KV, key: string, holder: string): Promise<boolean> {
    while (true) {
      const known = await read(kv, key);
      if (known.share === undefined || !(holder in known.share.holders)) return false;
      const holders = { ...known.share.holders };
      delete holders[holder];
      const share = { ...known.share, holders };
      let revision: number;
      try {
        revision = await kv.update(key, json(share), known.revision);
        this.counters.writes++;
      } catch (error) {
        if (!conflict(error)) throw error;
        this.counters.conflicts++;
        continue;
      }
      this.#transition(known.share, share, revision);
      if (total(share) > 0) return false;
      this.#purgeValue(key, revision);
      return total(known.share) > 0;
    }
  }

  // Listing and purging

  /**
   * The keys matching `filter` that hold a message, from the stream's info
   * (no consumer is made, unlike the client's `keys()`).
   */
  async #keys(filter: string): Promise<string[]> {
    const jsm = this.#jsm;
    if (jsm === undefined) return [];
    const prefix = `$KV.${this.#hooks.bucket}.`;
    const info = await jsm.streams.info(`KV_${this.#hooks.bucket}`, {
      subjects_filter: prefix + filter,
    });
    return Object.keys(info.state.subjects ?? {}).map((subject) => subject.slice(prefix.length));
  }

  /** Purges a key's value written at `revision` (and older), not a newer one. */
  #purgeValue(key: string, revision: number): void {
    this.#purge(key, revision + 1).catch(() => {}); // a leftover empty value is harmless
  }

  async #purge(key: string, seq?: number): Promise<void> {
    const jsm = this.#jsm;
    if (jsm === undefined) return;
    const filter = `$KV.${this.#hooks.bucket}.${key}`;
    await jsm.streams.purge(
      `KV_${this.#hooks.bucket}`,
      seq === undefined ? { filter } : {
        filter,
        seq,
      },
    );
  }
}

function isBusy(marker: Marker | undefined, done: Promise<void>): boolean {
  return marker?.state === "busy" && marker.done === done;
}

/** Whether `error` is a compare-and-set that lost (the key's revision was not the one given). */
function conflict(error: unknown): boolean {
  return error instanceof JetStreamApiError &&
    (error.code === JetStreamApiCodes.StreamWrongLastSequence ||
      error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);
}

async function read(kv: KV, key: string): Promise<Known> {
  const entry = await kv.get(key);
  if (entry === null) return { revision: 0, share: undefined };
  return { revision: entry.revision, share: parseShare(entry) };
}

function parseShare(entry: KvEntry): Share | undefined {
  if (entry.operation !== "PUT") return undefined;
  const share = parse<Share>(entry.value);
  if (
    share === undefined || typeof share.room !== "string" || typeof share.user !== "string" ||
    typeof share.holders !== "object" || share.holders === null
  ) {
    return undefined;
  }
  return share;
}

function total(share: Share): number {
  let sum = 0;
  for (const count of Object.values(share.holders)) if (count > 0) sum += count;
  return sum;
}

function json<T>(value: T): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

function parse<T>(bytes: Uint8Array): T | undefined {
  try {
    return JSON.parse(decoder.decode(bytes)) as T;
  } catch {
    return undefined;
  }
}

/** Runs `work` on every item, {@linkcode PARALLEL} at a time; throws the first failure. */
async function inBatches<T, R>(items: T[], work: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += PARALLEL) {
    out.push(...await Promise.all(items.slice(i, i + PARALLEL).map(work)));
  }
  return out;
}
