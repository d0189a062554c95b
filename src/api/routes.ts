/**
 * What each route of the HTTP API does, once the request is authenticated
 * and routed: check its fields (400 with what is wrong), act through the
 * hub, answer in JSON. `createApi` (create_api.ts) does the rest.
 *
 * @module
 */

import { closeReasonProblem, isApplicationCloseCode, roomNameProblem } from "../protocol/mod.ts";
import { type Position, recoveryVerdict } from "../server/history.ts";
import type { HubApi } from "../server/hub_api.ts";
import type { Logger } from "../server/logger.ts";
import { ApiError, json, problemOf } from "./api_error.ts";
import { objectOf } from "./request_body.ts";

/** What a route may need besides the hub and its input: createApi's options. */
export interface RouteSettings {
  /** The most commands a batch may hold. */
  maxBatch: number;
  /** Where an unexpected failure of one command of a batch is logged. */
  logger: Logger;
}

/** One route: its method, the body fields or query parameters it takes, and what it does. */
export interface Route {
  method: "GET" | "POST";
  /** Body fields (POST) or query parameters (GET) it accepts. */
  fields: readonly string[];
  /** Whether it sends to clients (refused while the backplane cannot reach the others). */
  sends: boolean;
  run(
    hub: HubApi<unknown>,
    input: Record<string, unknown>,
    settings: RouteSettings,
  ): Promise<Response>;
}

/**
 * Something that sends, as a route of its own (`POST /api/<name>`) and as a
 * command of a batch: the fields it takes, and `check`, which validates
 * them (400 with what is wrong) and returns the act, the hub call that
 * resolves to the reply. A check throws; an act rejects: a batch keeps
 * both as that command's reply.
 */
interface Command {
  fields: readonly string[];
  check(body: Record<string, unknown>): (hub: HubApi<unknown>) => Promise<Reply>;
}

type Reply = Record<string, unknown>;

/** Every command, by name: each is also the route `/<name>`. */
const COMMANDS: Readonly<Record<string, Command>> = Object.freeze({
  publish: {
    fields: ["room", "data"],
    check(body) {
      const room = roomOf(body.room);
      const data = dataOf(body);
      return async (hub) => {
        const { position } = await hub.publishWithPosition(room, data);
        return position === undefined ? {} : { offset: position.offset, epoch: position.epoch };
      };
    },
  },
  broadcast: {
    fields: ["data"],
    check(body) {
      const data = dataOf(body);
      return async (hub) => {
        await hub.broadcast(data);
        return {};
      };
    },
  },
  user: {
    fields: ["user", "data"],
    check(body) {
      const user = userOf(body.user);
      const data = dataOf(body);
      return async (hub) => {
        await hub.sendToUser(user, data);
        return {};
      };
    },
  },
  disconnect: {
    fields: ["user", "code", "reason"],
    check(body) {
      const user = userOf(body.user);
      const { code, reason } = body;
      if (code !== undefined && (typeof code !== "number" || !isApplicationCloseCode(code))) {
        throw new ApiError(400, `invalid code ${JSON.stringify(code)}: 1000 or 3000–4999`);
      }
      const problem = reason === undefined ? undefined : closeReasonProblem(reason);
      if (problem !== undefined) throw new ApiError(400, `invalid reason: ${problem}`);
      return async (hub) => {
        await hub.disconnectUser(user, { code: code as number, reason: reason as string });
        return {};
      };
    },
  },
});

const COMMAND_NAMES = Object.keys(COMMANDS).join(", ");

/** A command as a route of its own. */
function commandRoute(command: Command): Route {
  return {
    method: "POST",
    fields: command.fields,
    sends: true,
    async run(hub, body) {
      return json(await command.check(body)(hub));
    },
  };
}

/** One command of a batch, `{"<name>": {fields}}`, checked as its own route checks it. */
function checkCommand(entry: unknown): (hub: HubApi<unknown>) => Promise<Reply> {
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
    throw new ApiError(400, `a command must be an object with one of ${COMMAND_NAMES}`);
  }
  const names = Object.keys(entry);
  if (names.length !== 1) {
    throw new ApiError(
      400,
      `a command has exactly one of ${COMMAND_NAMES}; this one has ${
        names.length === 0 ? "none" : names.map((name) => JSON.stringify(name)).join(", ")
      }`,
    );
  }
  const name = names[0];
  if (!Object.hasOwn(COMMANDS, name)) {
    throw new ApiError(400, `unknown command ${JSON.stringify(name)}; known: ${COMMAND_NAMES}`);
  }
  const command = COMMANDS[name];
  try {
    return command.check(objectOf((entry as Reply)[name], command.fields, "its value"));
  } catch (error) {
    if (error instanceof ApiError) throw new ApiError(error.status, `${name}: ${error.message}`);
    throw error;
  }
}

/** Every route, by its path after the prefix. */
export const ROUTES: Readonly<Record<string, Route>> = Object.freeze({
  "/publish": commandRoute(COMMANDS.publish),
  "/broadcast": commandRoute(COMMANDS.broadcast),
  "/user": commandRoute(COMMANDS.user),
  "/disconnect": commandRoute(COMMANDS.disconnect),
  "/batch": {
    method: "POST",
    fields: ["commands"],
    sends: true,
    async run(hub, body, { maxBatch, logger }) {
      const { commands } = body;
      if (commands === undefined) {
        throw new ApiError(400, `commands is missing: an array of {"<command>": {…}}`);
      }
      if (!Array.isArray(commands)) {
        throw new ApiError(400, `commands must be an array of {"<command>": {…}}`);
      }
      if (commands.length > maxBatch) {
        throw new ApiError(
          413,
          `the batch has ${commands.length} commands, past maxBatch (${maxBatch}): split it`,
        );
      }
      // Every command checked and handed to the hub in this one turn, in order: the hub applies
      // them in order, and its writers send the publications to each client together, in as few
      // frames as they fit. A command that fails, fails alone.
      const started = commands.map((entry) => {
        try {
          return checkCommand(entry)(hub);
        } catch (error) {
          return Promise.reject(error);
        }
      });
      const replies = (await Promise.allSettled(started)).map((outcome) =>
        outcome.status === "fulfilled" ? outcome.value : problemOf(outcome.reason, logger).reply()
      );
      return json({ replies });
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
    fields: ["room", "limit", "since", "epoch"],
    sends: false,
    async run(hub, query) {
      const room = roomOf(query.room);
      const limit = query.limit === undefined ? undefined : countOf("limit", query.limit);
      let since: Position | undefined;
      if (query.since !== undefined || query.epoch !== undefined) {
        if (query.since === undefined || query.epoch === undefined) {
          throw new ApiError(
            400,
            "since and epoch go together: the offset and the epoch of a position (epoch= empty " +
              "for a room that had no stream)",
          );
        }
        const epoch = query.epoch as string;
        if (epoch.length > 64 || !/^[\x21-\x7e]*$/.test(epoch)) {
          throw new ApiError(400, `invalid epoch ${JSON.stringify(epoch)}: as the API gave it`);
        }
        since = { offset: countOf("since", query.since), epoch };
        if (limit === 0) throw new ApiError(400, "invalid limit 0 with since: at least 1");
      }
      const page = await hub.history(room, {
        ...(since === undefined ? {} : { since }),
        ...(limit === undefined ? {} : { limit }),
      });
      return json({
        epoch: page.epoch,
        offset: page.offset,
        // Bytes have no JSON form: they go as base64, under another name.
        publications: page.publications.map(({ offset, data }) =>
          data instanceof Uint8Array ? { offset, base64: encodeBase64(data) } : { offset, data }
        ),
        // Whether the page starts right after `since`, judged as a reconnecting client's recovery.
        ...(since === undefined ? {} : recoveryVerdict(since, {
          epoch: page.epoch,
          offset: page.offset,
          publications: page.publications.slice(0, 1).map(({ offset }) => ({ offset, data: "" })),
        }, Infinity)),
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

/** A query parameter that is a count or an offset: an integer ≥ 0. */
function countOf(name: string, value: unknown): number {
  const count = Number(value);
  if (!/^\d+$/.test(value as string) || !Number.isSafeInteger(count)) {
    throw new ApiError(400, `invalid ${name} ${JSON.stringify(value)}: an integer ≥ 0`);
  }
  return count;
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
