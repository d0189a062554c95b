/**
 * The inspector's tables, computed when a page asks and bounded whatever
 * the hub's size: a page of clients (filtered by user or room through the
 * registry's indexes, sorted by a partial sort that keeps only the rows
 * asked for), a page of rooms, one room in detail. Nothing is cached and
 * nothing runs between requests.
 *
 * @module
 */

import type { Connection } from "../server/connection.ts";
import type { Hub } from "../server/hub.ts";
import type { Inspection } from "../server/inspection.ts";
import type {
  ClientRow,
  ClientSort,
  ClientsPage,
  PublicationView,
  RoomDetail,
  RoomRow,
  RoomSort,
  RoomsPage,
} from "./api.ts";
import type { Feed } from "./feed.ts";
import { preview } from "./preview.ts";

/** Rows one page may have at most. */
export const MAX_ROWS = 200;
/** Rows of a page unless asked otherwise. */
export const DEFAULT_ROWS = 50;
/** Rooms a client row lists (the rest are counted). */
const ROOMS_LISTED = 5;
/** Members and presence entries a room's detail lists. */
const DETAIL_ROWS = 100;
/** Publications a room's detail lists. */
const DETAIL_PUBLICATIONS = 20;
/**
 * Rows up to which a sorted page is found by a partial sort (one pass, a
 * buffer of that many rows); deeper pages sort every item.
 */
const PARTIAL_SORT_ROWS = 500;
/** How long the backplane's cluster-wide answers may take, in ms. */
const CLUSTER_TIMEOUT = 2000;

/** What a client page asks for (from the query string). */
export interface ClientQuery {
  user?: string;
  room?: string;
  sort: ClientSort;
  order: "asc" | "desc";
  offset: number;
  limit: number;
}

/** What a room page asks for. */
export interface RoomQuery {
  /** Rooms whose name contains this. */
  contains?: string;
  sort: RoomSort;
  order: "asc" | "desc";
  offset: number;
  limit: number;
}

/** Reads the paging and sorting parameters common to both tables. */
function paging(params: URLSearchParams): { offset: number; limit: number; order: "asc" | "desc" } {
  const integer = (name: string, fallback: number, min: number, max: number) => {
    const value = Number(params.get(name) ?? fallback);
    return Number.isInteger(value) ? Math.min(max, Math.max(min, value)) : fallback;
  };
  return {
    offset: integer("offset", 0, 0, Number.MAX_SAFE_INTEGER),
    limit: integer("limit", DEFAULT_ROWS, 1, MAX_ROWS),
    order: params.get("order") === "asc" ? "asc" : "desc",
  };
}

/** A client query from a URL's parameters (unknown values fall back to the defaults). */
export function clientQuery(params: URLSearchParams): ClientQuery {
  const sort = params.get("sort");
  return {
    user: params.get("user") || undefined,
    room: params.get("room") || undefined,
    sort: sort === "queued" || sort === "buffered" || sort === "rtt" ? sort : "connected",
    ...paging(params),
  };
}

/** A room query from a URL's parameters. */
export function roomQuery(params: URLSearchParams): RoomQuery {
  return {
    contains: params.get("contains") || undefined,
    sort: params.get("sort") === "name" ? "name" : "members",
    ...paging(params),
  };
}

/**
 * The items at `[offset, offset + limit)` of `items` sorted by `key`
 * (ties in iteration order), without sorting them all: a bounded sorted
 * buffer of the best `offset + limit` so far, so that the first pages of a
 * large set cost one pass and a comparison per item. Deep pages (past
 * {@linkcode PARTIAL_SORT_ROWS} rows) sort everything instead.
 */
export function pageOf<T>(
  items: Iterable<T>,
  key: (item: T) => number | string,
  descending: boolean,
  offset: number,
  limit: number,
): T[] {
  const keep = offset + limit;
  const before = (a: number | string, b: number | string) => descending ? a > b : a < b;
  if (keep > PARTIAL_SORT_ROWS) {
    const all = Array.from(items, (item) => ({ item, key: key(item) }));
    all.sort((a, b) => before(a.key, b.key) ? -1 : before(b.key, a.key) ? 1 : 0); // stable
    return all.slice(offset, keep).map((entry) => entry.item);
  }
  const best: { item: T; key: number | string }[] = [];
  for (const item of items) {
    const k = key(item);
    if (best.length === keep && !before(k, best[keep - 1].key)) continue;
    // After every entry it does not beat: ties keep their iteration order.
    let low = 0;
    let high = best.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (before(k, best[middle].key)) high = middle;
      else low = middle + 1;
    }
    best.splice(low, 0, { item, key: k });
    if (best.length > keep) best.pop();
  }
  return best.slice(offset).map((entry) => entry.item);
}

/** The items at `[offset, offset + limit)` in iteration order (or from the end), in one pass. */
function slice<T>(
  items: Iterable<T>,
  size: number,
  fromEnd: boolean,
  offset: number,
  limit: number,
): T[] {
  const start = fromEnd ? Math.max(0, size - offset - limit) : offset;
  const end = fromEnd ? size - offset : offset + limit;
  const out: T[] = [];
  let i = 0;
  for (const item of items) {
    if (i >= end) break;
    if (i >= start) out.push(item);
    i++;
  }
  return fromEnd ? out.reverse() : out;
}

/** The table's row of one connection. */
export function clientRow(inspection: Inspection, connection: Connection): ClientRow {
  const rooms = connection.rooms;
  const listed: string[] = [];
  for (const room of rooms) {
    if (listed.length === ROOMS_LISTED) break;
    listed.push(room);
  }
  const row: ClientRow = {
    id: connection.id,
    user: connection.user,
    framed: connection.framed,
    protocol: connection.protocol,
    address: connection.address,
    connectedAt: connection.connectedAt,
    rooms: listed,
    roomCount: rooms.size,
    rtt: connection.liveness.rtt,
    queued: connection.writer.queued,
    buffered: inspection.buffered(connection),
    sent: connection.writer.sent,
    dropped: connection.writer.dropped,
  };
  const expiresAt = inspection.expiresAt(connection);
  if (expiresAt !== undefined) row.expiresAt = expiresAt;
  return row;
}

/** A page of clients: filtered through the registry's indexes, sorted, at most `limit` rows. */
export function clientsPage(inspection: Inspection, query: ClientQuery): ClientsPage {
  const { registry } = inspection;
  const { user, room, sort, order, offset, limit } = query;
  let matching: Iterable<Connection>;
  let total: number;
  if (user !== undefined && room !== undefined) {
    const both = [...registry.ofUser(user)].filter((connection) => connection.rooms.has(room));
    matching = both;
    total = both.length;
  } else if (user !== undefined) {
    matching = registry.ofUser(user);
    total = registry.ofUser(user).size;
  } else if (room !== undefined) {
    matching = registry.inRoom(room);
    total = registry.inRoom(room).size;
  } else {
    matching = registry.connections();
    total = registry.size;
  }
  let connections: Connection[];
  if (sort === "connected") {
    // Registration order is the order of every index: newest first is from its end.
    connections = slice(matching, total, order === "desc", offset, limit);
  } else {
    const key = sort === "queued"
      ? (connection: Connection) => connection.writer.queued
      : sort === "buffered"
      ? (connection: Connection) => inspection.buffered(connection)
      : (connection: Connection) => connection.liveness.rtt ?? -1;
    connections = pageOf(matching, key, order === "desc", offset, limit);
  }
  return {
    total,
    offset,
    limit,
    sort,
    order,
    rows: connections.map((connection) => clientRow(inspection, connection)),
  };
}

/** Resolves with `promise`'s value, or with `fallback` after `ms`. */
async function atMost<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<F>((resolve) => timer = setTimeout(() => resolve(fallback), ms)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Whether presence across the cluster can be asked for (a backplane that is up). */
function clusterUp(inspection: Inspection): boolean {
  return inspection.backplane()?.status === "up";
}

/** A page of rooms with members here: sorted by size or name, with history positions. */
export async function roomsPage(
  hub: Hub<unknown, unknown>,
  inspection: Inspection,
  query: RoomQuery,
): Promise<RoomsPage> {
  const { registry } = inspection;
  const { contains, sort, order, offset, limit } = query;
  let names: Iterable<string> = registry.roomNames();
  let total = registry.rooms;
  if (contains !== undefined) {
    const matching = [...names].filter((name) => name.includes(contains));
    names = matching;
    total = matching.length;
  }
  const key = sort === "name"
    ? (name: string) => name
    : (name: string) => registry.inRoom(name).size;
  const page = pageOf(names, key, order === "desc", offset, limit);
  const cluster = clusterUp(inspection);
  const rows = await Promise.all(page.map(async (name): Promise<RoomRow> => {
    const [history, clusterUsers] = await Promise.all([
      inspection.position(name),
      cluster
        ? atMost(
          hub.presence(name).then((entries) => entries.length, () => undefined),
          CLUSTER_TIMEOUT,
          undefined,
        )
        : undefined,
    ]);
    const row: RoomRow = {
      name,
      members: registry.inRoom(name).size,
      users: registry.presence(name).length,
      history: history ?? null,
    };
    if (clusterUsers !== undefined) row.clusterUsers = clusterUsers;
    return row;
  }));
  return { total, offset, limit, sort, order, rows };
}

/** One room: its members and presence here, across the cluster, its stream, its recent publications. */
export async function roomDetail(
  hub: Hub<unknown, unknown>,
  inspection: Inspection,
  feed: Feed,
  room: string,
): Promise<RoomDetail> {
  const { registry } = inspection;
  const members = registry.inRoom(room);
  const presence = registry.presence(room).sort((a, b) =>
    a.user < b.user ? -1 : a.user > b.user ? 1 : 0
  );
  const detail: RoomDetail = {
    name: room,
    members: slice(members, members.size, false, 0, DETAIL_ROWS).map((connection) =>
      clientRow(inspection, connection)
    ),
    memberCount: members.size,
    presence: presence.slice(0, DETAIL_ROWS),
    presenceCount: presence.length,
    recent: feed.publications(room, DETAIL_PUBLICATIONS),
  };
  const waits: Promise<void>[] = [];
  if (inspection.backplane() !== undefined) {
    if (!clusterUp(inspection)) {
      detail.cluster = { users: 0, connections: 0, error: "the backplane is not up" };
    } else {
      waits.push(
        atMost(hub.presence(room), CLUSTER_TIMEOUT, undefined).then(
          (entries) => {
            detail.cluster = entries === undefined
              ? { users: 0, connections: 0, error: "the backplane did not answer in time" }
              : {
                users: entries.length,
                connections: entries.reduce((sum, entry) => sum + entry.connections, 0),
              };
          },
          (error) => {
            detail.cluster = { users: 0, connections: 0, error: String(error?.message ?? error) };
          },
        ),
      );
    }
  }
  if (inspection.historyOf(room) !== undefined) {
    waits.push(
      hub.history(room, { limit: DETAIL_PUBLICATIONS }).then(
        (page) => {
          detail.history = {
            epoch: page.epoch,
            offset: page.offset,
            publications: page.publications.map(({ offset, data }): PublicationView => ({
              offset,
              ...preview(data),
            })),
          };
        },
        (error) => {
          detail.history = {
            epoch: "",
            offset: 0,
            publications: [],
            error: String(error?.message ?? error),
          };
        },
      ),
    );
  }
  await Promise.all(waits);
  return detail;
}
