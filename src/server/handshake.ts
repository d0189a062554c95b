/**
 * The handshake checks: what an upgrade request must pass before
 * `Deno.upgradeWebSocket` is called — method and headers, host, origin —
 * and the choice of the subprotocol to echo. Pure functions of the request;
 * the admission flow (`admission.ts`) calls them.
 *
 * @module
 */

import { chooseSubprotocol } from "../protocol/subprotocols.ts";

function refuse(status: number, message: string, headers?: HeadersInit): Response {
  return new Response(message + "\n", {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
}

/**
 * Checks that `req` is a WebSocket upgrade: a GET with `Upgrade: websocket`,
 * `Sec-WebSocket-Version: 13` (otherwise 426 naming version 13, RFC 6455
 * §4.2.2) and a `Sec-WebSocket-Key`. Returns the refusal to send, or `undefined`.
 */
export function checkUpgrade(req: Request): Response | undefined {
  const upgrade = req.headers.get("upgrade");
  if (upgrade === null || upgrade.toLowerCase() !== "websocket") {
    return refuse(426, "This endpoint speaks WebSocket only: send an Upgrade: websocket request", {
      upgrade: "websocket",
      connection: "Upgrade",
    });
  }
  if (req.method !== "GET") {
    return refuse(405, `A WebSocket upgrade must be a GET request, not ${req.method}`, {
      allow: "GET",
    });
  }
  const version = req.headers.get("sec-websocket-version");
  if (version?.trim() !== "13") {
    return refuse(
      426,
      `This server speaks WebSocket version 13 only (RFC 6455), and the request offered ${
        version === null ? "no Sec-WebSocket-Version" : `version ${JSON.stringify(version)}`
      }: send Sec-WebSocket-Version: 13`,
      { "sec-websocket-version": "13", upgrade: "websocket", connection: "Upgrade" },
    );
  }
  const key = req.headers.get("sec-websocket-key");
  if (key === null || !/^[A-Za-z0-9+/]{22}==$/.test(key.trim())) {
    return refuse(400, "Malformed WebSocket handshake: Sec-WebSocket-Key must be 16 base64 bytes");
  }
  return undefined;
}

/**
 * Checks the `Origin` header against the allowed origins (see the hub's
 * `allowedOrigins` option). Returns the refusal (403) or `undefined`.
 *
 * The default (no list) is same-origin: the origin's host must be the
 * request's `Host`, and its scheme the request's own — except that an
 * `https:` page may reach a hub that Deno serves over plain `http:` behind a
 * TLS-terminating proxy. An `http:` page may never reach an `https:` hub.
 */
export function checkOrigin(
  req: Request,
  allowed: readonly string[] | "*" | undefined,
): Response | undefined {
  if (allowed === "*") return undefined;
  const origin = req.headers.get("origin");
  if (origin === null) return undefined; // not a browser: origins protect browsers only
  if (allowed === undefined) {
    if (sameOrigin(req, origin)) return undefined;
  } else if (allowed.includes(origin)) {
    return undefined;
  }
  return refuse(
    403,
    `Origin ${origin} may not open a WebSocket here; list it in the hub's allowedOrigins option`,
  );
}

function sameOrigin(req: Request, origin: string): boolean {
  const host = req.headers.get("host");
  if (host === null) return false;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (url.host !== host.toLowerCase()) return false;
  const scheme = new URL(req.url).protocol;
  return url.protocol === scheme || (url.protocol === "https:" && scheme === "http:");
}

/**
 * Checks the `Host` header against the allowed hosts (the hub's
 * `allowedHosts` option; any host when it is not set). A page on an
 * attacker's domain that resolves to this server (DNS rebinding) sends its
 * own domain as `Host` and as `Origin`, so the same-origin check alone lets
 * it in; a list of the hosts this server answers to does not. Returns the
 * refusal (403) or `undefined`.
 */
export function checkHost(
  req: Request,
  allowed: readonly string[] | undefined,
): Response | undefined {
  if (allowed === undefined) return undefined;
  const host = (req.headers.get("host") ?? "").toLowerCase();
  if (allowed.some((name) => name.toLowerCase() === host)) return undefined;
  return refuse(
    403,
    `Host ${JSON.stringify(host)} is not served here; list it in the hub's allowedHosts option`,
  );
}

/** The subprotocol decision for one request. */
export interface Negotiated {
  /** The protocol to echo, or `undefined` when the client offered none. */
  protocol: string | undefined;
  /** Whether the connection speaks `wshub.v1` or `wshub.v2`. */
  framed: boolean;
  /** Which: 2 (`wshub.v2`: texts as JSON), 1 (`wshub.v1`), 0 (plain). */
  version: 0 | 1 | 2;
  /** Everything offered, in order (see `parseSubprotocols`). */
  offered: string[];
}

/**
 * Chooses the subprotocol to echo (see `chooseSubprotocol`): `wshub.v1` when
 * offered (a framed connection), otherwise `preferred` if offered, otherwise
 * the first offer that is not a credential (a plain connection), otherwise
 * none. Returns a 400 refusal, saying why, when the list is malformed or
 * offers nothing but credentials.
 */
export function negotiate(req: Request, preferred?: string): Negotiated | Response {
  const choice = chooseSubprotocol(req.headers.get("sec-websocket-protocol"), preferred);
  if (!choice.ok) return refuse(400, `Cannot negotiate a subprotocol: ${choice.reason}`);
  return {
    protocol: choice.protocol,
    framed: choice.framed,
    version: choice.version,
    offered: choice.offered,
  };
}

/** A plain-text refusal with a status (used for 500 and 503). */
export { refuse };
