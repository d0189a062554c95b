/**
 * `@wshub/hub/inspector`: a page that shows inside a running hub — live
 * counts and charts, the clients and their send queues, the rooms, an
 * event log — and, unless read-only, lets an operator close a client,
 * disconnect a user, take a client out of a room or publish a test
 * message. {@linkcode createInspector} returns the request handler that
 * serves it, behind HTTP Basic authentication or the application's own
 * check. It costs nothing while nobody has the page open.
 *
 * @example Mount it beside the hub, with a password from the environment
 * ```ts
 * import { Hub } from "@wshub/hub";
 * import { createInspector } from "@wshub/hub/inspector";
 *
 * const hub = new Hub();
 * const inspector = createInspector(hub, {
 *   auth: { user: "admin", password: Deno.env.get("INSPECTOR_PASSWORD") ?? crypto.randomUUID() },
 * });
 * const server = Deno.serve({ port: 0, onListen() {} }, (req, info) =>
 *   new URL(req.url).pathname.startsWith("/inspector")
 *     ? inspector(req)
 *     : hub.upgrade(req, { address: info.remoteAddr.hostname }));
 * await hub.close();
 * await server.shutdown();
 * ```
 *
 * @module
 */

export { createInspector, type InspectorOptions } from "./inspector.ts";
export type { InspectorAuth } from "./auth.ts";
