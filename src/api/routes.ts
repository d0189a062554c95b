/**
 * What each route of the HTTP API does, once the request is authenticated
 * and routed: check its fields (400 with what is wrong), act through the
 * hub, answer in JSON. `createApi` (create_api.ts) does the rest.
 *
 * @module
 */

import { closeReasonProblem, isApplicationCloseCode, roomNameProblem } from "../protocol/mod.ts";
import type { HubApi } from "../server/hub_api.ts";
import { ApiError, json } from "./api_error.ts";

/** One route: its method, the body fields or query parameters it takes, and what it does. */
export interface Route {
  method: "GET" | "POST";
  /** Body fields (POST) or query parameters (GET) it accepts. */
  fields: readonly string[];
  /** Whether it sends to clients (refused while the backplane cannot reach the others). */
  sends: boolean;
  run(hub: HubApi<unknown>, input: Record<string, unknown>): Promise<Response>;
}

/** Every route, by its path after the prefix. */
export const ROUTES: Readonly<Record<string, Route>> = Object.freeze({
  "/publish": {
    method: "POST",
    fields: ["room", "data"],
    sends: true,
    async run(hub, body) {
      const room = roomOf(body.room);
      const { position } = await hub.publishWithPosition(room, dataOf(body));
      return json(position === undefined ? {} : { offset: position.offset, epoch: position.epoch });
    },
  },
  "/broadcast": {
    method: "POST",
    fields: ["data"],
    sends: true,
    async run(hub, body) {
      await hub.broadcast(dataOf(body));
      return json({});
    },
  },
  "/user": {
    method: "POST",
    fields: ["user", "data"],
    sends: true,
    async run(hub, body) {
      await hub.sendToUser(userOf(body.user), dataOf(body));
      return json({});
    },
  },
  "/disconnect": {
    method: "POST",
    fields: ["user", "code", "reason"],
    sends: true,
    async run(hub, body) {
      const user = userOf(body.user);
      const { code, reason } = body;
      if (code !== undefined && (typeof code !== "number" || !isApplicationCloseCode(code))) {
        throw new ApiError(400, `invalid code ${JSON.stringify(code)}: 1000 or 3000–4999`);
      }
      const problem = reason === undefined ? undefined : closeReasonProblem(reason);
      if (problem !== undefined) throw new ApiError(400, `invalid reason: ${problem}`);
      await hub.disconnectUser(user, { code: code as number, reason: reason as string });
      return json({});
    },
  },
  "/presence": {
    method: "GET",
    fields: ["room"],
    sends: false,
    async run(hub, query) {
      return json({ presence: await hub.presence(roomOf(query.room)) });
    },
  },
  "/history": {
    method: "GET",
    fields: ["room", "limit"],
    sends: false,
    async run(hub, query) {
      const room = roomOf(query.room);
      let limit: number | undefined;
      if (query.limit !== undefined) {
        limit = Number(query.limit);
        if (!/^\d+$/.test(query.limit as string) || !Number.isSafeInteger(limit)) {
          throw new ApiError(400, `invalid limit ${JSON.stringify(query.limit)}: an integer ≥ 0`);
        }
      }
      const page = await hub.history(room, limit === undefined ? {} : { limit });
      return json({
        epoch: page.epoch,
        offset: page.offset,
        // Bytes have no JSON form: they go as base64, under another name.
        publications: page.publications.map(({ offset, data }) =>
          data instanceof Uint8Array ? { offset, base64: encodeBase64(data) } : { offset, data }
        ),
      });
    },
  },
  "/info": {
    method: "GET",
    fields: [],
    sends: false,
    run(hub) {
      return Promise.resolve(json(hub.stats()));
    },
  },
});

function roomOf(room: unknown): string {
  if (room === undefined || room === null) throw new ApiError(400, "room is missing");
  if (typeof room !== "string") throw new ApiError(400, "room must be a string");
  const problem = roomNameProblem(room);
  if (problem !== undefined) throw new ApiError(400, `invalid room: ${problem}`);
  return room;
}

function userOf(user: unknown): string {
  if (user === undefined || user === null) throw new ApiError(400, "user is missing");
  if (typeof user !== "string" || user === "") {
    throw new ApiError(400, "user must be a non-empty string");
  }
  return user;
}

/** Bytes in base64 (in slices: a spread of megabytes would overflow the stack). */
function encodeBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** The body's `data`: any JSON value, `null` included, published as given. */
function dataOf(body: Record<string, unknown>): unknown {
  if (!("data" in body)) throw new ApiError(400, "data is missing (any JSON value)");
  return body.data;
}
