/**
 * `createApi`: an HTTP API to a hub, for backends in any language (`curl`
 * is enough). It publishes through the hub, so with a backplane a call on
 * any process reaches the whole cluster. Routes are in routes.ts; this file
 * checks the options, authenticates, routes, and turns every failure into a
 * JSON answer with a status.
 *
 * @module
 */

import { assertKnownOptions } from "../common/unknown_options.ts";
import { HubClosedError } from "../server/errors.ts";
import type { HubApi } from "../server/hub_api.ts";
import { defaultLogger, type Logger } from "../server/logger.ts";
import { ApiError, problemOf } from "./api_error.ts";
import { Bearer, checkKeys } from "./bearer.ts";
import { readJsonObject } from "./request_body.ts";
import { type Route, ROUTES } from "./routes.ts";

/**
 * Options of {@linkcode createApi}.
 *
 * @example
 * ```ts
 * import { type ApiOptions, createApi, Hub } from "@wshub/hub";
 *
 * const options: ApiOptions = { key: crypto.randomUUID(), prefix: "/internal/ws", maxBodyBytes: 16_384 };
 * const hub = new Hub();
 * const api = createApi(hub, options);
 * await hub.close();
 * void api;
 * ```
 */
export interface ApiOptions {
  /**
   * The API key: a request must carry `Authorization: Bearer <key>`.
   * Required, at least 16 visible ASCII characters. A list during a
   * rotation (any of them is accepted).
   */
  key: string | readonly string[];
  /** The path the routes are under. Default `"/api"`. */
  prefix?: string;
  /**
   * The largest request body, in bytes; a larger one is refused with 413.
   * A batch is one body: its commands together must fit. Default 65,536.
   */
  maxBodyBytes?: number;
  /**
   * The most commands one `POST /api/batch` may hold; a longer batch is
   * refused whole with 413 (nothing of it is sent). Default 1,000.
   *
   * @example
   * ```ts
   * import { createApi, Hub } from "@wshub/hub";
   *
   * const hub = new Hub();
   * const api = createApi(hub, { key: crypto.randomUUID(), maxBatch: 100, maxBodyBytes: 262_144 });
   * await hub.close();
   * void api;
   * ```
   */
  maxBatch?: number;
  /** Where an unexpected failure (answered 500) is logged. Default: the console. */
  logger?: Logger;
}

/** The default {@linkcode ApiOptions.maxBodyBytes}. */
export const DEFAULT_MAX_BODY_BYTES = 65_536;

/** The default {@linkcode ApiOptions.maxBatch}. */
export const DEFAULT_MAX_BATCH = 1_000;

/**
 * A JSON HTTP API to `hub`, as a request handler to mount in a `Deno.serve`
 * handler: other processes and other languages publish to the hub's
 * clients, disconnect users, and read presence, history and stats. With a
 * backplane, what it sends reaches every process's clients.
 *
 * Routes, under `prefix` (default `/api`):
 * - `POST /api/publish` `{"room", "data"}` → `{"offset", "epoch"}` in a room
 *   with history, `{}` in another;
 * - `POST /api/broadcast` `{"data"}` → `{}`;
 * - `POST /api/user` `{"user", "data"}` → `{}`;
 * - `POST /api/disconnect` `{"user", "code"?, "reason"?}` → `{}` (4003 by default);
 * - `POST /api/batch` `{"commands": [{"publish": {"room", "data"}}, {"broadcast":
 *   {…}}, {"user": {…}}, {"disconnect": {…}}, …]}` → `{"replies": […]}`, one
 *   reply per command in order: what its own route answers, or `{"error":
 *   {"status", "message"}}` for a command that failed (alone). The commands
 *   are handed to the hub together, in order, so publications are sent to
 *   each client in as few frames as they fit. At most `maxBatch` commands;
 *   the body is bounded by `maxBodyBytes` like any other;
 * - `GET /api/presence?room=R` → `{"presence": [{"user", "connections"}]}`;
 * - `GET /api/history?room=R&limit=N` → `{"epoch", "offset", "publications":
 *   [{"offset", "data"}]}` (bytes as `"base64"` instead of `"data"`); with
 *   `since=<offset>&epoch=<epoch>`, the publications after that position and
 *   `"recovered"`: `true` when they follow it with nothing missing, else
 *   `false` with a `"reason"` (`"epoch_changed"`, `"expired"`, `"trimmed"`);
 * - `GET /api/info` → this process's `hub.stats()`.
 *
 * `data` is any JSON value and is published as given: a string stays a
 * string, an object reaches `wshub.v2` clients as the object and plain
 * clients as its JSON text, exactly as `hub.publish` would send it.
 *
 * Every answer is JSON (`{"error": "…"}` for a refusal, never a stack
 * trace): 401 without the key (no detail), 404 for an unknown route, 405
 * for a wrong method (with `Allow`), 415 for a body that is not
 * `application/json`, 413 past `maxBodyBytes`, 400 for a missing or
 * invalid field (or an unknown one), 503 while the hub's backplane is not
 * up for a route that sends (nothing was sent: try again), or while the
 * hub is closing or a history read fails, 500 for anything unexpected
 * (logged). The key is compared in constant time. There are no CORS
 * headers: the API is for servers, not pages.
 *
 * @param hub The hub the API acts through.
 * @param options `key` is required.
 * @returns The handler; it never throws.
 * @throws {TypeError} If `key` is missing or too short, or an option is invalid or unknown.
 *
 * @example Mount it beside the hub
 * ```ts
 * import { createApi, Hub } from "@wshub/hub";
 *
 * const hub = new Hub();
 * const api = createApi(hub, { key: Deno.env.get("WSHUB_API_KEY") ?? crypto.randomUUID() });
 * const server = Deno.serve({ port: 0, onListen() {} }, (req) => {
 *   const { pathname } = new URL(req.url);
 *   return pathname.startsWith("/api/") ? api(req) : hub.upgrade(req);
 * });
 * await hub.close();
 * await server.shutdown();
 * ```
 */
export function createApi<T>(
  hub: HubApi<T>,
  options: ApiOptions,
): (req: Request) => Promise<Response> {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("createApi needs options: createApi(hub, { key })");
  }
  assertKnownOptions("createApi option", options, [
    "key",
    "prefix",
    "maxBodyBytes",
    "maxBatch",
    "logger",
  ]);
  const bearer = new Bearer(checkKeys(options.key));
  const prefix = options.prefix ?? "/api";
  if (typeof prefix !== "string" || !/^\/[^?#]*$/.test(prefix) || prefix.endsWith("/")) {
    throw new TypeError(
      `Invalid createApi option prefix: ${
        JSON.stringify(prefix)
      }; a path that starts with / and does not end with one, like "/api"`,
    );
  }
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes < 1) {
    throw new TypeError(
      `Invalid createApi option maxBodyBytes: ${maxBodyBytes}; expected an integer of at least 1`,
    );
  }
  const maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
  if (!Number.isSafeInteger(maxBatch) || maxBatch < 1) {
    throw new TypeError(
      `Invalid createApi option maxBatch: ${maxBatch}; expected an integer of at least 1`,
    );
  }
  const logger = options.logger ?? defaultLogger;
  const settings = { maxBatch, logger };
  const api = hub as unknown as HubApi<unknown>;

  return async (req) => {
    try {
      const url = new URL(req.url);
      if (!url.pathname.startsWith(`${prefix}/`)) {
        throw new ApiError(404, `not found: the API is under ${prefix}/`);
      }
      if (!await bearer.allows(req)) {
        await req.body?.cancel().catch(() => {});
        throw new ApiError(401, "unauthorized", { "www-authenticate": 'Bearer realm="wshub"' });
      }
      const name = url.pathname.slice(prefix.length);
      const route = Object.hasOwn(ROUTES, name) ? ROUTES[name] : undefined;
      if (route === undefined) {
        throw new ApiError(
          404,
          `no route ${name}; the routes are ${
            Object.keys(ROUTES).map((path) => `${ROUTES[path].method} ${prefix}${path}`).join(", ")
          }`,
        );
      }
      if (req.method !== route.method) {
        await req.body?.cancel().catch(() => {});
        throw new ApiError(405, `${prefix}${name} takes ${route.method}, not ${req.method}`, {
          allow: route.method,
        });
      }
      const input = route.method === "POST"
        ? await readJsonObject(req, maxBodyBytes, route.fields)
        : queryOf(url, route);
      if (route.sends) reachable(api);
      return await route.run(api, input, settings);
    } catch (error) {
      return problemOf(error, logger).response();
    }
  };
}

/** The query's parameters, each given once and all known to the route. */
function queryOf(url: URL, route: Route): Record<string, unknown> {
  const query: Record<string, unknown> = {};
  for (const [name, value] of url.searchParams) {
    if (!route.fields.includes(name)) {
      throw new ApiError(
        400,
        `unknown parameter ${JSON.stringify(name)}; known: ${route.fields.join(", ") || "none"}`,
      );
    }
    if (name in query) throw new ApiError(400, `parameter ${JSON.stringify(name)} given twice`);
    query[name] = value;
  }
  return query;
}

/** Refuses to send while the hub is closing, or while its backplane cannot reach the others. */
function reachable(hub: HubApi<unknown>): void {
  if (hub.closed) throw new HubClosedError("the API");
  const status = hub.backplaneStatus;
  if (status !== "none" && status !== "up") {
    throw new ApiError(
      503,
      `the backplane is ${status}: this process cannot reach the others now; nothing was sent, ` +
        "try again shortly",
      { "retry-after": "1" },
    );
  }
}
