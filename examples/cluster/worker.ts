/**
 * One process of the chat cluster; examples/cluster/main.ts starts N of them. It runs the chat
 * example's server (examples/chat/main.ts) with a `RedisBackplane`, on the shared port with
 * `SO_REUSEPORT`, and serves the same chat on a port of its own too, where `GET /stats` also
 * says which process this is and whom it serves, and `/inspector/` shows inside its hub.
 *
 * ```sh
 * deno run --unstable-bundle --unstable-net --allow-net --allow-read --allow-env \
 *   examples/cluster/worker.ts '{"worker":0,"hostname":"localhost","port":8000,"ownPort":8001,"redis":"redis://127.0.0.1:6379","inspectorPassword":"…"}'
 * ```
 *
 * Prints one line of JSON once both ports listen (`{"ready":true,…}`: the supervisor waits for
 * it), then the chat's own output. Stops gracefully (the hub closes with 1001, so pages
 * reconnect to the other processes, and this process's presence leaves Redis at once) on SIGINT,
 * SIGTERM, or when its stdin closes, so a worker never outlives its supervisor.
 *
 * @module
 */

import { createInspector } from "../../src/inspector/mod.ts";
import { RedisBackplane } from "../../src/redis/mod.ts";
import { startChat } from "../chat/main.ts";

/** What the supervisor passes, as JSON in the first argument. */
export interface WorkerConfig {
  /** This worker's index, from 0. */
  worker: number;
  /** Interface of both listeners. */
  hostname: string;
  /** The port every worker shares. */
  port: number;
  /** This worker's own port; 0 picks a free one. */
  ownPort: number;
  /** The Redis server. */
  redis: string;
  /** `RedisBackplane`'s `presenceTtl`; its default when absent. */
  presenceTtl?: number;
  /** `RedisBackplane`'s `prefix`; its default when absent. */
  prefix?: string;
  /** The inspector's password (user `admin`), served on this worker's own port only. */
  inspectorPassword: string;
}

/** What `GET /stats` on a worker's own port answers. */
export interface WorkerStats {
  worker: number;
  pid: number;
  /** The backplane's id of this process. */
  node: string;
  /** The backplane's status: `connecting`, `up`, `down` or `closed`. */
  backplane: string;
  /** This process's chat connections (whichever port they came through). */
  clients: { id: string; user: string | undefined }[];
  /** The backplane's counters (published, received, dropped, round trip…). */
  redis: ReturnType<RedisBackplane["stats"]>;
}

const config = JSON.parse(Deno.args[0] ?? "null") as WorkerConfig;
if (
  typeof config?.redis !== "string" || typeof config.port !== "number" ||
  typeof config.inspectorPassword !== "string"
) {
  console.error("usage: worker.ts '<json config>' (examples/cluster/main.ts starts workers)");
  Deno.exit(2);
}

const backplane = new RedisBackplane({
  url: config.redis,
  presenceTtl: config.presenceTtl,
  prefix: config.prefix,
  onStatus(status, error) {
    console.error(`Redis ${status}${error === undefined ? "" : ` (${error.message})`}`);
  },
});
// The supervisor's token key: a token signed by any worker is good on all of them.
const secret = Deno.env.get("CHAT_TOKEN_SECRET");
const chat = await startChat({
  hostname: config.hostname,
  port: config.port,
  reusePort: true,
  backplane,
  tokenSecret: secret === undefined
    ? undefined
    : Uint8Array.from(secret.match(/../g) ?? [], (hex) => parseInt(hex, 16)),
  // The supervisor's API key: any worker takes a call to /api/ and reaches every process's pages.
  apiKey: Deno.env.get("CHAT_API_KEY"),
  // Not on the shared port: the page, its data and its stream would each reach any process.
  inspector: false,
});
// This process's inspector, on its own port (the backplane adds the cluster-wide presence).
const inspector = createInspector(chat.hub, {
  auth: { user: "admin", password: config.inspectorPassword },
});

const stats = (): WorkerStats => ({
  worker: config.worker,
  pid: Deno.pid,
  node: backplane.node,
  backplane: backplane.status,
  clients: chat.hub.clients().map((client) => ({ id: client.id, user: client.user })),
  redis: backplane.stats(),
});
const own = Deno.serve(
  { hostname: config.hostname, port: config.ownPort, onListen() {} },
  (req, info) => {
    const { pathname } = new URL(req.url);
    if (pathname === "/stats") return Response.json(stats());
    if (pathname === "/inspector" || pathname.startsWith("/inspector/")) return inspector(req);
    return chat.handler(req, info);
  },
);

let stopping: Promise<void> | undefined;
const stop = () =>
  stopping ??= (async () => {
    await chat.close(); // every chat connection, both ports; this process's presence leaves Redis
    await own.shutdown();
    Deno.exit(0);
  })();
for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(signal, stop);
(async () => {
  for await (const _ of Deno.stdin.readable) { /* until the supervisor goes */ }
  await stop();
})();

// Say "ready" once Redis answered, or after 3 s without it: the chat serves its own clients
// meanwhile, and the backplane goes on trying.
const deadline = performance.now() + 3_000;
while (backplane.status !== "up" && performance.now() < deadline) {
  await new Promise((resolve) => setTimeout(resolve, 20));
}
console.log(JSON.stringify({
  ready: true,
  worker: config.worker,
  pid: Deno.pid,
  port: config.port,
  ownPort: own.addr.port,
  node: backplane.node,
  backplane: backplane.status,
}));
