/**
 * `createInspector`: the request handler that serves the inspector's page,
 * its script and styles, its live stream and its data routes under one
 * prefix, each behind the same authentication.
 *
 * @module
 */

import { assertKnownOptions } from "../common/unknown_options.ts";
import { roomNameProblem } from "../protocol/mod.ts";
import type { Hub } from "../server/hub.ts";
import { inspectionOf } from "../server/inspection.ts";
import { act } from "./actions.ts";
import { PAGE_CSS, PAGE_HTML, PAGE_JS } from "./assets.ts";
import { gate, type InspectorAuth } from "./auth.ts";
import { Feed } from "./feed.ts";
import { clientQuery, clientsPage, roomDetail, roomQuery, roomsPage } from "./queries.ts";

/**
 * Options of {@linkcode createInspector}.
 *
 * @example A read-only inspector under /admin/hub
 * ```ts
 * import { Hub } from "@wshub/hub";
 * import { createInspector, type InspectorOptions } from "@wshub/hub/inspector";
 *
 * const hub = new Hub();
 * const options: InspectorOptions = {
 *   auth: { user: "admin", password: "correct horse battery staple" },
 *   prefix: "/admin/hub",
 *   readonly: true,
 * };
 * const inspector = createInspector(hub, options);
 * console.log(typeof inspector); // "function"
 * await hub.close();
 * ```
 */
export interface InspectorOptions {
  /** Who may use it (required): `{ user, password }` for HTTP Basic, or a function of the request. */
  auth: InspectorAuth;
  /**
   * Where it is served: the page at `<prefix>/`, its data under
   * `<prefix>/api/`. Starts with `/`, does not end with one. Default
   * `"/inspector"`.
   */
  prefix?: string;
  /**
   * Refuse every action (close a client, disconnect a user, take a client
   * out of a room, publish) with 403; the page hides their buttons.
   * Default `false`.
   */
  readonly?: boolean;
  /**
   * Milliseconds between two updates of the live stream (from 100 to
   * 60,000). Each reads `hub.stats()` once, whatever the number of pages
   * open. Default `1000`.
   */
  interval?: number;
}

const OPTION_NAMES = [
  "auth",
  "prefix",
  "readonly",
  "interval",
] satisfies (keyof InspectorOptions)[];

/** Largest body an action accepts, in bytes. */
const MAX_BODY = 64 * 1024;

/** The headers of every response: no caching, no framing, no sniffing, nothing but this origin. */
const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; " +
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; " +
    "frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
  "cache-control": "no-store",
});

function headers(type: string, more?: Record<string, string>): Headers {
  const result = new Headers(SECURITY_HEADERS);
  result.set("content-type", type);
  for (const [name, value] of Object.entries(more ?? {})) result.set(name, value);
  return result;
}

function text(status: number, body: string, more?: Record<string, string>): Response {
  return new Response(body, { status, headers: headers("text/plain; charset=utf-8", more) });
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: headers("application/json; charset=utf-8"),
  });
}

/**
 * Creates the inspector of `hub`: a request handler that serves, under
 * `prefix` (default `/inspector`), a page showing inside the running hub —
 * an overview with live charts, the clients (paged, filtered, sorted by
 * send-queue depth to find slow consumers), the rooms, a live event log —
 * and, unless `readonly`, actions: close a client, disconnect a user, take
 * a client out of a room, publish a test message.
 *
 * Every request under the prefix must pass `auth` (401 otherwise, and
 * nothing else); requests outside it get 404, so the handler may be tried
 * first or mounted on its prefix. The page is self-contained (no network
 * but its own origin) and reads one server-sent-events stream, which is not
 * a WebSocket: it never counts as a client of the hub. While no page is
 * open the inspector runs nothing; while one is, it reads `hub.stats()`
 * once per `interval` and hears the hub's events. Tables are computed on
 * request, a page of at most 200 rows at a time.
 *
 * What it shows is this process's view; with a backplane, the counts marked
 * "cluster" come from the backplane (presence across processes).
 *
 * @param hub The hub to inspect.
 * @param options `auth` is required.
 * @returns The request handler.
 * @throws {TypeError} If `auth` is missing or malformed, or an option is unknown.
 * @throws {RangeError} If the prefix or the interval is out of range, or the password empty.
 *
 * @example Mount it beside the hub
 * ```ts
 * import { Hub } from "@wshub/hub";
 * import { createInspector } from "@wshub/hub/inspector";
 *
 * const hub = new Hub();
 * const inspector = createInspector(hub, {
 *   auth: { user: "admin", password: Deno.env.get("INSPECTOR_PASSWORD") ?? crypto.randomUUID() },
 * });
 * const server = Deno.serve({ port: 0, onListen() {} }, (req, info) => {
 *   const { pathname } = new URL(req.url);
 *   if (pathname.startsWith("/inspector")) return inspector(req);
 *   return hub.upgrade(req, { address: info.remoteAddr.hostname });
 * });
 * await hub.close();
 * await server.shutdown();
 * ```
 */
export function createInspector<T, In>(
  hub: Hub<T, In>,
  options: InspectorOptions,
): (req: Request) => Response | Promise<Response> {
  if (options === null || typeof options !== "object") {
    throw new TypeError("createInspector(hub, { auth }): the options, with auth, are required");
  }
  assertKnownOptions("inspector option", options, OPTION_NAMES);
  const allowed = gate(options.auth);
  const prefix = options.prefix ?? "/inspector";
  if (typeof prefix !== "string" || !/^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*[^/]$/.test(prefix)) {
    throw new RangeError(
      `Invalid inspector prefix ${
        JSON.stringify(prefix)
      }: it starts with / and does not end with one`,
    );
  }
  const interval = options.interval ?? 1000;
  if (!(Number.isFinite(interval) && interval >= 100 && interval <= 60_000)) {
    throw new RangeError(`Invalid inspector interval ${interval}: from 100 to 60000 ms`);
  }
  const readonly = options.readonly === true;
  const target = hub as unknown as Hub<unknown, unknown>;
  const inspection = inspectionOf(hub);
  const feed = new Feed(target, inspection, { interval, readonly });
  const basic = typeof options.auth !== "function";
  const challenge: Record<string, string> = basic
    ? { "www-authenticate": 'Basic realm="wshub inspector", charset="UTF-8"' }
    : {};

  const route = async (req: Request, url: URL): Promise<Response> => {
    const path = url.pathname.slice(prefix.length);
    const method = req.method;
    if (method === "POST" && path.startsWith("/api/")) {
      if (readonly) return json({ ok: false, error: "this inspector is read-only" }, 403);
      const refusal = checkAction(req);
      if (refusal !== undefined) return refusal;
      const body = await readJson(req);
      if (body instanceof Response) return body;
      const answer = await act(target, inspection, path.slice("/api/".length), body);
      return json(answer.body, answer.status);
    }
    if (method !== "GET" && method !== "HEAD") {
      return text(405, "Method not allowed", { allow: "GET, HEAD, POST" });
    }
    switch (path) {
      case "":
        return new Response(null, {
          status: 308,
          headers: headers("text/plain; charset=utf-8", { location: `${prefix}/` }),
        });
      case "/":
        return new Response(PAGE_HTML, { headers: headers("text/html; charset=utf-8") });
      case "/app.js":
        return new Response(PAGE_JS, { headers: headers("text/javascript; charset=utf-8") });
      case "/style.css":
        return new Response(PAGE_CSS, { headers: headers("text/css; charset=utf-8") });
      case "/api/stream": {
        const streamHeaders = headers("text/event-stream; charset=utf-8", {
          "x-accel-buffering": "no",
        });
        // HEAD opens no stream: nobody would read it, and it would keep the feed running.
        if (method === "HEAD") return new Response(null, { headers: streamHeaders });
        return new Response(feed.open(), { headers: streamHeaders });
      }
      case "/api/overview":
        return json(feed.tick(false));
      case "/api/clients":
        return json(clientsPage(inspection, clientQuery(url.searchParams)));
      case "/api/rooms":
        return json(await roomsPage(target, inspection, roomQuery(url.searchParams)));
      case "/api/room": {
        const name = url.searchParams.get("name") ?? "";
        const problem = roomNameProblem(name);
        if (problem !== undefined) return json({ ok: false, error: problem }, 400);
        return json(await roomDetail(target, inspection, feed, name));
      }
      default:
        return text(404, "Not found");
    }
  };

  return (req: Request): Response | Promise<Response> => {
    const url = new URL(req.url);
    if (url.pathname !== prefix && !url.pathname.startsWith(`${prefix}/`)) {
      return text(404, "Not found");
    }
    const verdict = allowed(req);
    const answer = (ok: boolean) => ok ? route(req, url) : text(401, "Unauthorized", challenge);
    return verdict instanceof Promise ? verdict.then(answer) : answer(verdict);
  };
}

/**
 * Refuses an action a browser could have been made to send from another
 * site (the browser sends Basic credentials with it): it must come from
 * the same origin, and be JSON (which a cross-site form cannot send
 * without a preflight that this handler never allows).
 */
function checkAction(req: Request): Response | undefined {
  const site = req.headers.get("sec-fetch-site");
  if (site !== null && site !== "same-origin" && site !== "none") {
    return json({ ok: false, error: "cross-site request refused" }, 403);
  }
  const origin = req.headers.get("origin");
  if (origin !== null) {
    let host: string | undefined;
    try {
      host = new URL(origin).host;
    } catch {
      // "null" or malformed
    }
    if (host === undefined || host !== (req.headers.get("host") ?? new URL(req.url).host)) {
      return json({ ok: false, error: "cross-origin request refused" }, 403);
    }
  }
  const type = req.headers.get("content-type") ?? "";
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    return json({ ok: false, error: "send JSON (content-type: application/json)" }, 415);
  }
  return undefined;
}

/** The action's body: a JSON object of at most {@linkcode MAX_BODY} bytes. */
async function readJson(req: Request): Promise<Record<string, unknown> | Response> {
  const tooLarge = () => json({ ok: false, error: `the body is over ${MAX_BODY} bytes` }, 413);
  if (Number(req.headers.get("content-length") ?? 0) > MAX_BODY) return tooLarge();
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (req.body !== null) {
    for await (const chunk of req.body) {
      size += chunk.byteLength;
      if (size > MAX_BODY) return tooLarge();
      chunks.push(chunk);
    }
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return json({ ok: false, error: "the body is not JSON" }, 400);
  }
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    return json({ ok: false, error: "the body must be a JSON object" }, 400);
  }
  return body as Record<string, unknown>;
}
