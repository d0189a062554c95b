/**
 * Inspection: read access to one hub's internals for `@wshub/hub/inspector`
 * (`src/inspector/`), without widening the public API. Each {@linkcode Hub}
 * registers its parts here when it is created; {@linkcode inspectionOf}
 * finds them again. Nothing here runs unless an inspector asks: the reads
 * are computed on request, and the tap ({@linkcode Tap}) stays off until an
 * inspector listens.
 *
 * The inspector reads through this module and acts only through the public
 * API (`client.close()`, `hub.leave()`, `hub.publish()`).
 *
 * @module
 */

import type { Admission } from "./admission.ts";
import type { BackplaneStats, BackplaneStatus } from "./backplane.ts";
import type { Connection } from "./connection.ts";
import type { HistoryOptions, Position } from "./history.ts";
import type { Histogram } from "./prometheus.ts";
import type { Registry } from "./registry.ts";
import type { Tap } from "./tap.ts";
import type { Parts } from "./wiring.ts";

/** The registry's reads: who is connected, by user, by room, and rooms' presence. */
export type RegistryReads = Pick<
  Registry,
  "size" | "users" | "rooms" | "connections" | "ofUser" | "inRoom" | "roomNames" | "presence"
>;

/** What a hub's backplane says of itself, for the inspector. */
export interface BackplaneView {
  status: BackplaneStatus;
  /** Its counters (traffic on the bus, round trip), when it keeps them. */
  stats: BackplaneStats | undefined;
  /** The name of this process on the bus (`RedisBackplane.node`, `NatsBackplane.node`), if any. */
  node: string | undefined;
}

/**
 * One hub's internals, read-only.
 *
 * @example
 * ```ts
 * import { Hub } from "../../mod.ts";
 * import { inspectionOf } from "./inspection.ts";
 *
 * const hub = new Hub();
 * const inspection = inspectionOf(hub);
 * console.log(inspection.registry.size, inspection.tap.on); // 0 false
 * await hub.close();
 * ```
 */
export class Inspection {
  readonly #parts: Parts;
  readonly #admission: Admission;

  /** `parts` and `admission` are the hub's own. */
  constructor(parts: Parts, admission: Admission) {
    this.#parts = parts;
    this.#admission = admission;
  }

  /** The hub's tap: listen to it to hear connections, rooms and refusals as they happen. */
  get tap(): Tap {
    return this.#parts.tap;
  }

  /** Who is connected (read only: the registry changes in the hub's loop only). */
  get registry(): RegistryReads {
    return this.#parts.registry;
  }

  /** How long messages waited before their hand-off to sockets (`wshub_delivery_wait_seconds`). */
  get waits(): Histogram {
    return this.#parts.handOffs.waits;
  }

  /** Sockets the hub holds now: open, opening or closing. */
  get sockets(): number {
    return this.#admission.sockets;
  }

  /** The connection with this id, or `undefined`. O(connections): for an action, not a loop. */
  find(id: string): Connection | undefined {
    for (const connection of this.#parts.registry.connections()) {
      if (connection.id === id) return connection;
    }
    return undefined;
  }

  /** Bytes waiting in Deno's buffer for this connection's socket (0 once it is closed). */
  buffered(connection: Connection): number {
    try {
      return connection.socket.bufferedAmount;
    } catch {
      return 0;
    }
  }

  /**
   * When the connection's credential expires (ms since the epoch), read
   * from its public view (`client.expiresAt`, from expiring identities);
   * `undefined` when it has none, or clients do not say.
   */
  expiresAt(connection: Connection): number | undefined {
    const expiresAt = (connection.client as { expiresAt?: unknown }).expiresAt;
    return typeof expiresAt === "number" ? expiresAt : undefined;
  }

  /** The room's history options (`undefined`: it keeps none, or the `history` option threw). */
  historyOf(room: string): HistoryOptions | undefined {
    try {
      return this.#parts.options.history(room);
    } catch {
      return undefined;
    }
  }

  /**
   * The room's stream position (`undefined` when it keeps no history, or
   * the store failed): read from this process's memory, or from the
   * backplane's store (one round trip).
   */
  async position(room: string): Promise<Position | undefined> {
    if (this.historyOf(room) === undefined) return undefined;
    try {
      const page = await this.#parts.store.read(room, { limit: 0 });
      return { epoch: page.epoch, offset: page.offset };
    } catch {
      return undefined;
    }
  }

  /** The backplane, if the hub has one. */
  backplane(): BackplaneView | undefined {
    const backplane = this.#parts.backplane;
    if (backplane === undefined) return undefined;
    const node = (backplane as { node?: unknown }).node;
    return {
      status: backplane.status,
      stats: backplane.stats?.(),
      node: typeof node === "string" ? node : undefined,
    };
  }
}

const inspections = new WeakMap<object, Inspection>();

/** Called by the hub's constructor: makes its internals readable by {@linkcode inspectionOf}. */
export function registerInspection(hub: object, parts: Parts, admission: Admission): void {
  inspections.set(hub, new Inspection(parts, admission));
}

/**
 * The internals of `hub`.
 *
 * @throws {TypeError} If `hub` is not a `Hub`.
 */
export function inspectionOf(hub: object): Inspection {
  const inspection = inspections.get(hub);
  if (inspection === undefined) throw new TypeError("Not a Hub: cannot inspect it");
  return inspection;
}
