/**
 * The wshub chat example: a hub on /ws and a small page that uses
 * `@wshub/hub/client` in the browser. Channels are rooms (`#general`,
 * `#random`, any `#name`; `#admins` for the user `admin` only), private
 * messages go to a named user, the online list and each channel's member list
 * come from presence, channels keep their recent lines (history: a page that
 * joins is shown them, and one that reconnects is sent what it missed), and
 * the pages rejoin their channels after a restart.
 *
 * ```sh
 * deno task dev                      # http://localhost:8000
 * deno task dev --port=9000 --hostname=0.0.0.0
 * PORT=9000 deno task dev
 * ```
 *
 * Identity is a short-lived signed JWT (one minute by default, `--token-ttl`):
 * the page gets one from `/token` before every connection, and again on the
 * same connection whenever the hub asks for a fresh one (`getToken`); the hub
 * checks them with `@wshub/hub/jwt`. THE NAME IS DEMO-ONLY: `/token` signs any
 * name it is given, so anyone can pick any name. A real application issues
 * tokens only to a signed-in session (a cookie on `/token`).
 *
 * Other processes post to channels over HTTP (`createApi` under `/api/`, with
 * the key `CHAT_API_KEY` or a new one printed at start, with a `curl` line).
 *
 * @module
 */

import { SignJWT } from "jose";
import { createApi, Hub } from "../../mod.ts";
import { createJwtAuth } from "../../src/jwt/mod.ts";
import { createInspector, type InspectorAuth } from "../../src/inspector/mod.ts";
import {
  CHANNEL_PATTERN,
  type ChatEvent,
  type ChatRequest,
  LOBBY,
  mayJoin,
  NAME_PATTERN,
  parseRequest,
} from "./messages.ts";

import type { Backplane, HistoryOptions } from "../../mod.ts";

/** Options of {@linkcode startChat}. */
export interface ChatOptions {
  /** Interface to listen on. Default `"localhost"`. */
  hostname?: string;
  /** Port to listen on; 0 picks a free one. Default 8000. */
  port?: number;
  /** Aborting it shuts the server down, like `close()`. */
  signal?: AbortSignal;
  /**
   * Joins this server to others serving the same chat (the hub's `backplane`
   * option, e.g. a `RedisBackplane`): see examples/cluster/. Default: none.
   */
  backplane?: Backplane;
  /**
   * Listen with `SO_REUSEPORT`, so that several processes share the port
   * (Linux spreads connections over them; needs `--unstable-net`). Default `false`.
   */
  reusePort?: boolean;
  /** How long the tokens `/token` signs are valid, in ms (whole seconds in the JWT). Default 60 000. */
  tokenTtl?: number;
  /**
   * The HMAC key that signs and checks the tokens. Default: a random one per
   * process (processes serving one chat must share theirs: examples/cluster/).
   */
  tokenSecret?: Uint8Array;
  /**
   * Who may open the inspector at /inspector/ (`@wshub/hub/inspector`), or
   * `false` for none. Default: the user `admin` with the password in
   * `$WSHUB_INSPECTOR_PASSWORD`, else a random one (printed at start).
   */
  inspector?: InspectorAuth | false;
  /**
   * The key of the HTTP API under /api/ (`createApi`: publish to a channel,
   * message a user… with `curl`). Default: a random one, in `ChatServer.apiKey`.
   */
  apiKey?: string;
}

/** A running chat server. */
export interface ChatServer {
  /** The page's URL, e.g. `http://localhost:8000/`. */
  url: string;
  /** The hub behind /ws. */
  hub: Hub<ChatEvent, ChatRequest>;
  /**
   * The server's request handler (page, script, styles, /ws, /api/, /inspector/), to serve on
   * another listener too; `info` gives the inspector the clients' addresses.
   */
  handler: (req: Request, info?: Deno.ServeHandlerInfo) => Response | Promise<Response>;
  /** The inspector's credentials, when it has Basic ones (`undefined`: no inspector, or a function). */
  inspector?: { user: string; password: string };
  /** The key of the HTTP API under /api/. */
  apiKey: string;
  /** Closes every chat connection (1001, so pages reconnect), then the server. */
  close(): Promise<void>;
}

const here = new URL("./", import.meta.url);

/**
 * What each channel keeps: its last 100 lines, for an hour. (In this process's
 * memory, so a restart loses them; with a `RedisBackplane`, in Redis.)
 */
export const CHANNEL_HISTORY: HistoryOptions = { size: 100, ttl: 60 * 60_000 };

/** Which rooms keep history: channels do, the lobby does not (the hub's and an emitter's `history`). */
export const chatHistory = (room: string): HistoryOptions | undefined =>
  CHANNEL_PATTERN.test(room) ? CHANNEL_HISTORY : undefined;

/**
 * Bundles app.ts (and the client module it imports) for the browser, in
 * memory. Uses Deno's runtime bundler (`--unstable-bundle`) when enabled, else
 * runs `deno bundle` (needs `--allow-run`).
 */
async function bundleApp(): Promise<string> {
  const entry = new URL("app.ts", here);
  type Bundle = (options: {
    entrypoints: string[];
    write: false;
    platform: "browser";
    format: "esm";
  }) => Promise<{ success: boolean; errors: unknown[]; outputFiles?: { text(): string }[] }>;
  const bundle = (Deno as unknown as { bundle?: Bundle }).bundle;
  if (bundle) {
    const result = await bundle({
      entrypoints: [entry.pathname],
      write: false,
      platform: "browser",
      format: "esm",
    });
    const text = result.outputFiles?.[0]?.text();
    if (!result.success || text === undefined) {
      throw new Error(`Bundling ${entry.pathname} failed: ${JSON.stringify(result.errors)}`);
    }
    return text;
  }
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(Deno.execPath(), {
      args: ["bundle", "--quiet", "--platform=browser", entry.pathname],
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (error) {
    throw new Error(
      "The chat page needs its script bundled: run with --unstable-bundle " +
        `(as \`deno task dev\` does) or grant --allow-run for \`deno bundle\` (${error})`,
    );
  }
  if (!output.success) {
    throw new Error(`deno bundle failed:\n${new TextDecoder().decode(output.stderr)}`);
  }
  return new TextDecoder().decode(output.stdout);
}

/**
 * Starts the chat server; resolves once it listens and the page's script is
 * bundled.
 *
 * @example Start on a free port, then stop
 * ```ts ignore
 * import { startChat } from "./main.ts";
 *
 * const chat = await startChat({ hostname: "127.0.0.1", port: 0 });
 * console.log("open", chat.url);
 * await chat.close();
 * ```
 */
export async function startChat(options: ChatOptions = {}): Promise<ChatServer> {
  const [script, page, style] = await Promise.all([
    bundleApp(),
    Deno.readTextFile(new URL("index.html", here)),
    Deno.readTextFile(new URL("style.css", here)),
  ]);
  const secret = options.tokenSecret ?? crypto.getRandomValues(new Uint8Array(32));
  const tokenTtl = options.tokenTtl ?? 60_000;
  // Tokens are JWTs: `sub` is the user, `exp` the expiry. `identify` checks the
  // one offered with the upgrade (401 if invalid or expired); `refresh` checks
  // a fresh one sent on the open connection, which then lives on.
  const tokens = createJwtAuth({ key: secret, audience: TOKEN_AUDIENCE, algorithms: ["HS256"] });
  const hub = new Hub<ChatEvent, ChatRequest>({
    backplane: options.backplane,
    identify: tokens.identify,
    refresh: tokens.refresh,
    decode: parseRequest,
    // Channels are rooms the page joins itself (`client.join`); this decides
    // who may. A refusal is answered (the page's join rejects with a
    // JoinError, code "forbidden"); the connection stays open.
    authorizeJoin: (client, room) => mayJoin(client.user, room),
    maxRoomsPerConnection: 20,
    // Channels keep their recent lines, each with an offset: a page that
    // joins asks for the last ones (`client.join(room, { history })`), and one
    // that comes back after a disconnect is sent what it missed by the hub
    // itself (or, if it cannot be, the last ones again). The lobby, only
    // there for its presence, keeps none.
    history: chatHistory,
    // Members of every room get `presence` events: a user's first tab joined,
    // or their last one left. The online list is the lobby's presence.
    presenceEvents: true,
    onPresence({ room, user, event }) {
      if (room === LOBBY) console.log(`${user} is ${event === "join" ? "online" : "offline"}`);
    },
    onConnect(client, hub) {
      // Server-side joins are trusted (no authorizeJoin). The page does not
      // rejoin the lobby after a reconnect: the server puts it back here.
      hub.join(client, LOBBY);
      const tabs = hub.clientsOf(client.user!).length;
      console.log(`${client.user} connected (${tabs === 1 ? "1 tab" : `${tabs} tabs`})`);
    },
    onDisconnect(client, { code }) {
      console.log(`${client.user} disconnected (${code})`);
    },
    async onMessage(request, client, hub) {
      const from = client.user!;
      const at = Date.now();
      if (request.type === "say") {
        // Only members post to a channel. (A line sent right after a join
        // is handled once the join is decided, so a page may join and say.)
        if (!client.rooms.has(request.room)) {
          client.send({ type: "notice", text: `You may not post to ${request.room}` });
          return;
        }
        // To every member, the sender included: it shows its line once,
        // confirmed and in the room's order. (`{ except: client }` skips it.)
        await hub.publish(request.room, { type: "message", from, text: request.text, at });
      } else if (request.type === "whisper") {
        const line: ChatEvent = { type: "message", from, to: request.to, text: request.text, at };
        // Online anywhere (with a backplane, the count sendToUser returns is this process's only):
        // every connection is in the lobby, whose presence is cluster-wide.
        const online = await hub.presence(LOBBY);
        if (!online.some((entry) => entry.user === request.to)) {
          client.send({ type: "notice", text: `${request.to} is not online` });
          return;
        }
        await hub.sendToUser(request.to, line);
        if (request.to !== from) await hub.sendToUser(from, line); // the sender's other tabs too
      }
    },
  });

  const headers = (type: string) => ({
    "content-type": type,
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
  });
  // The inspector, behind a password: see inside the hub at /inspector/.
  const auth: InspectorAuth | false = options.inspector ?? {
    user: "admin",
    password: Deno.env.get("WSHUB_INSPECTOR_PASSWORD") ?? randomPassword(),
  };
  const inspector = auth === false ? undefined : createInspector(hub, { auth });
  // Other processes and languages publish to channels, message users… over HTTP, with the key.
  const apiKey = options.apiKey ?? crypto.randomUUID();
  const api = createApi(hub, { key: apiKey });
  const handler = (req: Request, info?: Deno.ServeHandlerInfo): Response | Promise<Response> => {
    const { pathname } = new URL(req.url);
    if (pathname.startsWith("/api/")) return api(req);
    if (pathname === "/token") return issueToken(req, secret, tokenTtl);
    if (pathname === "/ws") {
      const remote = info?.remoteAddr as Deno.NetAddr | undefined;
      return hub.upgrade(req, { address: remote?.hostname });
    }
    if (
      inspector !== undefined && (pathname === "/inspector" || pathname.startsWith("/inspector/"))
    ) {
      return inspector(req);
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("Method not allowed", { status: 405 });
    }
    if (pathname === "/") {
      return new Response(page, { headers: headers("text/html; charset=utf-8") });
    }
    if (pathname === "/app.js") {
      return new Response(script, { headers: headers("text/javascript; charset=utf-8") });
    }
    if (pathname === "/style.css") {
      return new Response(style, { headers: headers("text/css; charset=utf-8") });
    }
    // Prometheus metrics; in production, serve them where only the scraper can reach them.
    if (pathname === "/metrics") return hub.metricsResponse();
    return new Response("Not found", { status: 404 });
  };
  const server = Deno.serve({
    hostname: options.hostname ?? "localhost",
    port: options.port ?? 8000,
    reusePort: options.reusePort,
    onListen() {},
  }, handler);

  let closing: Promise<void> | undefined;
  const close = () =>
    closing ??= (async () => {
      await hub.close();
      await server.shutdown();
    })();
  options.signal?.addEventListener("abort", () => void close(), { once: true });

  const { hostname, port } = server.addr;
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  const wildcard = hostname === "0.0.0.0" || hostname === "::";
  const url = `http://${options.hostname === undefined || wildcard ? "localhost" : host}:${port}/`;
  const credentials = auth === false || typeof auth === "function" ? undefined : auth;
  return { url, hub, handler, inspector: credentials, apiKey, close };
}

/** 18 random hex digits (72 bits): the inspector's password when none is given. */
function randomPassword(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(9));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** The `aud` of the chat's tokens. */
const TOKEN_AUDIENCE = "wshub-chat";

/**
 * `GET /token?name=alice`: a JWT for that name, valid `ttl` ms. DEMO-ONLY:
 * it signs any valid name; a real application checks who is asking (its
 * session cookie) and signs that user's id.
 */
async function issueToken(req: Request, secret: Uint8Array, ttl: number): Promise<Response> {
  const name = new URL(req.url).searchParams.get("name") ?? "";
  if (!NAME_PATTERN.test(name)) {
    return new Response("Pick a name of 1-20 letters, digits, _ or -", { status: 400 });
  }
  const token = await new SignJWT({})
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(name)
    .setAudience(TOKEN_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(Math.floor((Date.now() + ttl) / 1000))
    .sign(secret);
  return new Response(token, {
    headers: { "content-type": "text/plain", "cache-control": "no-store" },
  });
}

/** A `curl` line that posts a chat line to #general through the HTTP API. */
export function apiExample(url: string, key: string): string {
  return `curl -sS -H 'Authorization: Bearer ${key}' -H 'Content-Type: application/json' ` +
    `${url}api/publish -d '{"room":"#general","data":{"type":"message","from":"curl",` +
    `"text":"hello from curl","at":'$(date +%s000)'}}'`;
}

/** Reads `--port=N`, `--port N`, `--hostname=H`, `--token-ttl=MS` and the PORT, TOKEN_TTL and CHAT_API_KEY environment variables. */
function parseArgs(args: string[]): ChatOptions {
  const value = (name: string): string | undefined => {
    for (let i = 0; i < args.length; i++) {
      if (args[i].startsWith(`--${name}=`)) return args[i].slice(name.length + 3);
      if (args[i] === `--${name}`) return args[i + 1];
    }
  };
  const portText = value("port") ?? Deno.env.get("PORT");
  const port = portText === undefined ? undefined : Number(portText);
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port < 65536)) {
    throw new Error(`Invalid port ${JSON.stringify(portText)}: pass --port=N with 0 <= N < 65536`);
  }
  const ttlText = value("token-ttl") ?? Deno.env.get("TOKEN_TTL");
  const tokenTtl = ttlText === undefined ? undefined : Number(ttlText);
  if (tokenTtl !== undefined && !(Number.isInteger(tokenTtl) && tokenTtl >= 2_000)) {
    throw new Error(
      `Invalid token TTL ${JSON.stringify(ttlText)}: pass --token-ttl=MS, MS >= 2000`,
    );
  }
  return { port, hostname: value("hostname"), tokenTtl, apiKey: Deno.env.get("CHAT_API_KEY") };
}

if (import.meta.main) {
  const chat = await startChat(parseArgs(Deno.args));
  console.log(`wshub chat listening on ${chat.url}`);
  if (chat.inspector !== undefined) {
    const { user, password } = chat.inspector;
    console.log(`inspector: ${chat.url}inspector/ (user ${user}, password ${password})`);
  }
  console.log(
    `HTTP API (CHAT_API_KEY, else a new key each start): ${apiExample(chat.url, chat.apiKey)}`,
  );
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, async () => {
      console.log(`\n${signal}: closing connections (1001, pages will reconnect)`);
      await chat.close();
      Deno.exit(0);
    });
  }
}
