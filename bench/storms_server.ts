/**
 * The hub server of the storm benchmarks (bench/storms.ts), for this tree or another revision's
 * (`--root`, as bench/run.ts's `--compare` extracts it): the hub's code is imported from there, so
 * the same server runs both.
 *
 * ```sh
 * deno run -A bench/storms_server.ts --scenario=flap [--port=N] [--options='{"presenceWindow":0}']
 * deno run -A bench/storms_server.ts --scenario=storm --redis=redis://127.0.0.1:6379 --rooms=500 --rate=500
 * ```
 *
 * - `flap`: a default hub with `presenceEvents: true`, identified by `?u=`; a message from a client
 *   is published to the room "flap" (the publisher of bench/loadgen_go's flap scenario).
 * - `storm`: a hub with a `RedisBackplane` and history in every room (`size` 1,000, `ttl` 5
 *   minutes), identified by `?u=`; the server itself publishes `--rate` messages a second over
 *   `--rooms` rooms (`s0`…), in turn.
 *
 * `--options` adds hub options (JSON), for the options this revision knows (others are left out
 * and said on stderr). Prints `{"port":N}` once listening; `GET /stats` answers `hub.stats()` and
 * the backplane's; SIGTERM closes the hub gracefully (clients get 1001), then exits.
 *
 * @module
 */

const args = new Map(
  Deno.args.filter((a) => a.startsWith("--")).map((a) => {
    const [name, ...value] = a.slice(2).split("=");
    return [name, value.join("=")] as const;
  }),
);
const scenario = args.get("scenario");
if (scenario !== "flap" && scenario !== "storm") {
  console.error("--scenario=flap or --scenario=storm");
  Deno.exit(2);
}
const root = new URL(
  (args.get("root") ?? new URL("../", import.meta.url).pathname).replace(/\/?$/, "/"),
  "file:///",
);
const { Hub } = await import(new URL("mod.ts", root).href);
const { OPTION_NAMES } = await import(new URL("src/server/options.ts", root).href) as {
  OPTION_NAMES: readonly string[];
};

/** The options asked for that this revision knows. */
function known(options: Record<string, unknown>): Record<string, unknown> {
  const kept: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(options)) {
    if (OPTION_NAMES.includes(name)) kept[name] = value;
    else console.error(`storms_server: this revision has no option ${name}; left out`);
  }
  return kept;
}

const extra = JSON.parse(args.get("options") ?? "{}") as Record<string, unknown>;
const identify = (req: Request) => new URL(req.url).searchParams.get("u") ?? undefined;
// deno-lint-ignore no-explicit-any
let hub: any;
// deno-lint-ignore no-explicit-any
let backplane: any;
let timer: ReturnType<typeof setInterval> | undefined;
if (scenario === "flap") {
  hub = new Hub({
    identify,
    presenceEvents: true,
    onMessage(message: unknown) {
      void hub.publish("flap", message);
    },
    ...known(extra),
  });
} else {
  const { RedisBackplane } = await import(new URL("src/redis/mod.ts", root).href);
  backplane = new RedisBackplane({ url: args.get("redis")! });
  hub = new Hub({
    identify,
    backplane,
    history: { size: 1000, ttl: 300_000 },
    ...known(extra),
  });
  await hub.ready();
  const rooms = Number(args.get("rooms") ?? 500);
  const rate = Number(args.get("rate") ?? 500);
  // Every tick a share of the rate, in turn over the rooms (timers fire at most every few ms).
  const tick = 20;
  const perTick = rate * tick / 1000;
  let next = 0;
  let owed = 0;
  let n = 0;
  timer = setInterval(() => {
    owed += perTick;
    for (; owed >= 1; owed--) {
      void hub.publish(`s${next}`, `s${next}:${n++}:${Date.now()}`);
      next = (next + 1) % rooms;
    }
  }, tick);
}

const server = Deno.serve(
  { hostname: "127.0.0.1", port: Number(args.get("port") ?? 0), onListen() {} },
  async (req) => {
    if (new URL(req.url).pathname === "/stats") {
      return Response.json({ hub: hub.stats(), backplane: backplane?.stats() });
    }
    return await hub.upgrade(req);
  },
);
console.log(JSON.stringify({ port: server.addr.port }));

Deno.addSignalListener("SIGTERM", async () => {
  clearInterval(timer);
  await hub.close();
  await server.shutdown();
  Deno.exit(0);
});
