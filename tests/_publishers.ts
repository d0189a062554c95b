// What the tests of publishers without a hub share (tests/redis_emitter_test.ts,
// tests/channel_format_test.ts, tests/api_test.ts): a client-module client that records
// everything it is sent, text and bytes, with its room and offset, and how it ended; and the
// history rooms' options.

import {
  connect,
  type HubClient,
  type MessageMeta,
  type RecoveryEvent,
} from "../src/client/mod.ts";
import type { CloseInfo } from "../src/client/mod.ts";

/** What rooms named `h:…` keep in these tests (the cluster nodes' `historyRooms: "h:"`). */
export const HISTORY = { size: 100, ttl: 60_000 };

/** One message a recorder got: the value (a string, bytes, any JSON value), its room and offset. */
export interface Got {
  data: unknown;
  room: string | undefined;
  offset: number | undefined;
}

/** A `wshub.v2` client (the client module) recording what it is sent. */
export interface Recorder {
  client: HubClient<unknown>;
  got: Got[];
  recoveries: RecoveryEvent[];
  closes: CloseInfo[];
}

/** Connects a recorder; it waits `initialDelay` ms before each reconnect. */
export function recorder(url: string, initialDelay = 0): Recorder {
  const client = connect<unknown>(url, {
    reconnect: { initialDelay, maxDelay: Math.max(initialDelay, 20) },
  });
  const got: Got[] = [];
  const recoveries: RecoveryEvent[] = [];
  const closes: CloseInfo[] = [];
  const record = (data: unknown, meta: MessageMeta) =>
    got.push({ data, room: meta.room, offset: meta.offset });
  client.on("message", record);
  client.on("binary", record);
  client.on("recovery", (event) => recoveries.push(event));
  client.on("close", (info) => closes.push(info));
  return { client, got, recoveries, closes };
}

/** `got` without the messages of the rooms `rooms` does not name (`undefined`: broadcasts and user messages). */
export function of(got: Got[], ...rooms: (string | undefined)[]): unknown[] {
  return got.filter((entry) => rooms.includes(entry.room)).map((entry) => entry.data);
}
