/**
 * The chat example in several processes, as one chat: N workers (examples/cluster/worker.ts)
 * serve the same port with `SO_REUSEPORT` (Linux spreads the connections over them) and share
 * one Redis through `RedisBackplane`. One command starts them all:
 *
 * ```sh
 * redis-server --port 6379 --save '' --appendonly no &    # or any Redis you have
 * deno task cluster                                        # 2 processes on http://localhost:8000
 * deno task cluster --processes=3 --redis=redis://127.0.0.1:6379 --port=8000
 * ```
 *
 * Flags (`--name=value`):
 * - `--processes=N` (2): how many hub processes
 * - `--redis=URL` (`$REDIS_URL`, else `redis://127.0.0.1:6379`)
 * - `--port=N` (`$PORT`, else 8000) and `--hostname=H` (`localhost`): the shared listener
 * - `--worker-port=N` (port + 1): worker i also serves the chat alone on N + i, with
 *   `GET /stats` (which process, whose connections, the backplane's counters); 0: free ports
 * - `--presence-ttl=MS`, `--prefix=P`: `RedisBackplane`'s options (defaults 15000, `wshub`)
 * - `--announce=MS` (10000): a job worker (examples/cluster/announcer.ts) says the time in
 *   `#general` every MS ms through a `RedisEmitter`, without a hub; 0: none
 * - `--json`: print one line of JSON once every worker is ready (and one per restart), for
 *   scripts and tests, instead of the banner
 *
 * Each worker serves its own inspector (`@wshub/hub/inspector`: that process's clients, rooms and
 * events, with the cluster-wide presence from Redis) at `/inspector/` on its own port, for the
 * user `admin` with the password in `$WSHUB_INSPECTOR_PASSWORD`, else a random one printed at
 * start. (Not on the shared port: its page, data and stream would each reach any process.)
 *
 * Each worker serves the chat's HTTP API under /api/ with one key (`CHAT_API_KEY`, else a new
 * one per run): the banner prints a `curl` line that posts to `#general` through it.
 *
 * A worker that dies (a crash, kill -9) is started again after a second, longer if it keeps
 * dying; its users reconnect to the others meanwhile. SIGINT or SIGTERM stops every worker
 * gracefully (pages are told 1001 and reconnect once a server is back).
 *
 * @module
 */

import { apiExample } from "../chat/main.ts";

/** What a worker says once it listens (its first line of output). */
export interface WorkerReady {
  ready: true;
  worker: number;
  pid: number;
  port: number;
  ownPort: number;
  node: string;
  backplane: string;
}

/** What the announcer says once connected (its first line of output). */
export interface AnnouncerReady {
  announcer: true;
  pid: number;
  room: string;
  every: number;
  redis: string;
}

/** The supervisor's options, from the command line. */
export interface ClusterOptions {
  processes: number;
  redis: string;
  hostname: string;
  port: number;
  workerPort: number;
  presenceTtl?: number;
  prefix?: string;
  /** How often the announcer says the time, in ms; 0: no announcer. */
  announce: number;
  json: boolean;
  /** The password of every worker's inspector (user `admin`). */
  inspectorPassword: string;
}

const WORKER = new URL("./worker.ts", import.meta.url).pathname;
const ANNOUNCER = new URL("./announcer.ts", import.meta.url).pathname;
const CONFIG = new URL("../../deno.json", import.meta.url).pathname;
const READY_TIMEOUT = 120_000; // the first run fetches the bundler (esbuild) from npm
const STOP_TIMEOUT = 10_000;

/** Parses the flags above; throws with a message on a bad value. */
export function parseOptions(args: string[], env: (name: string) => string | undefined) {
  const flags = new Map<string, string>();
  for (const arg of args) {
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (match === null) throw new Error(`Unknown argument ${arg}: flags are --name=value`);
    flags.set(match[1], match[2] ?? "true");
  }
  const known = [
    "processes",
    "redis",
    "hostname",
    "port",
    "worker-port",
    "presence-ttl",
    "prefix",
    "announce",
    "json",
  ];
  for (const name of flags.keys()) {
    if (!known.includes(name)) throw new Error(`Unknown flag --${name} (known: ${known})`);
  }
  const integer = (name: string, text: string | undefined, min: number, max: number) => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new Error(`Invalid --${name}=${text}: expected an integer from ${min} to ${max}`);
    }
    return value;
  };
  const port = integer("port", flags.get("port") ?? env("PORT") ?? "8000", 1, 65535);
  const options: ClusterOptions = {
    processes: integer("processes", flags.get("processes") ?? "2", 1, 64),
    redis: flags.get("redis") ?? env("REDIS_URL") ?? "redis://127.0.0.1:6379",
    hostname: flags.get("hostname") ?? "localhost",
    port,
    workerPort: 0,
    announce: integer("announce", flags.get("announce") ?? "10000", 0, 86_400_000),
    json: flags.has("json"),
    // 72 random bits, as the chat example's own default.
    inspectorPassword: env("WSHUB_INSPECTOR_PASSWORD") ??
      crypto.randomUUID().replaceAll("-", "").slice(0, 18),
  };
  options.workerPort = integer(
    "worker-port",
    flags.get("worker-port") ?? String(port + 1),
    0,
    65535 - options.processes + 1,
  );
  if (flags.has("presence-ttl")) {
    options.presenceTtl = integer("presence-ttl", flags.get("presence-ttl"), 100, 86_400_000);
  }
  if (flags.has("prefix")) options.prefix = flags.get("prefix");
  if (!/^rediss?:\/\//.test(options.redis)) {
    throw new Error(`Invalid --redis=${options.redis}: expected redis://host:port`);
  }
  return options;
}

/**
 * The key that signs the chat's tokens, shared by every worker (a token from
 * one must be good on the others), handed over in the environment rather than
 * the command line (which `ps` shows). New for each run of the supervisor.
 */
const TOKEN_SECRET = Array.from(
  crypto.getRandomValues(new Uint8Array(32)),
  (byte) => byte.toString(16).padStart(2, "0"),
).join("");

/**
 * The key of the workers' HTTP API (/api/), the same on every worker: `CHAT_API_KEY`, else new
 * for each run of the supervisor. Handed over in the environment, like the token key.
 */
const API_KEY = Deno.env.get("CHAT_API_KEY") ?? crypto.randomUUID();

/**
 * One child process (a hub worker, or the announcer): its child, what it said when ready (its
 * first line of JSON starting with `readyLine`), and its output forwarded.
 */
class Child<R> {
  readonly label: string;
  readonly child: Deno.ChildProcess;
  readonly ready: Promise<R>;
  readonly started = performance.now();
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;

  constructor(
    label: string,
    args: string[],
    readyLine: string,
    log: (line: string) => void,
  ) {
    this.label = label;
    this.child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", `--config=${CONFIG}`, ...args],
      env: { CHAT_TOKEN_SECRET: TOKEN_SECRET, CHAT_API_KEY: API_KEY },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#stdin = this.child.stdin.getWriter();
    const prefix = `[${label}]`;
    let announce: (ready: R) => void;
    let fail: (error: Error) => void;
    this.ready = new Promise((resolve, reject) => {
      announce = resolve;
      fail = reject;
    });
    this.ready.catch(() => {}); // awaited by start(); a restart may never be awaited
    let said = false;
    const stdout = forEachLine(this.child.stdout, (line) => {
      if (!said && line.startsWith(readyLine)) {
        said = true;
        announce(JSON.parse(line));
      } else log(`${prefix} ${line}`);
    });
    const stderr = forEachLine(this.child.stderr, (line) => log(`${prefix} ${line}`));
    void Promise.all([stdout, stderr, this.child.status]).then(([, , status]) => {
      if (!said) fail(new Error(`${prefix} exited (code ${status.code}) before listening`));
    });
  }

  /** Graceful: closing stdin and SIGTERM both make a worker close its hub; SIGKILL after 10 s. */
  async stop(): Promise<void> {
    await this.#stdin.close().catch(() => {});
    signal(this.child, "SIGTERM");
    const timer = setTimeout(() => signal(this.child, "SIGKILL"), STOP_TIMEOUT);
    await this.child.status;
    clearTimeout(timer);
  }
}

/** Hub worker `index`: the chat on the shared port (and its own), with a RedisBackplane. */
function worker(index: number, options: ClusterOptions, log: (line: string) => void) {
  const config = {
    worker: index,
    hostname: options.hostname,
    port: options.port,
    ownPort: options.workerPort === 0 ? 0 : options.workerPort + index,
    redis: options.redis,
    presenceTtl: options.presenceTtl,
    prefix: options.prefix,
    inspectorPassword: options.inspectorPassword,
  };
  const flags = [
    "--unstable-bundle",
    "--unstable-net",
    "--allow-net",
    "--allow-read",
    "--allow-env",
  ];
  return new Child<WorkerReady>(
    `worker ${index}`,
    [...flags, WORKER, JSON.stringify(config)],
    '{"ready":true',
    log,
  );
}

/** The announcer: no hub, a RedisEmitter saying the time in #general. */
function announcer(options: ClusterOptions, log: (line: string) => void) {
  const config = {
    redis: options.redis,
    prefix: options.prefix,
    every: options.announce,
    room: "#general",
  };
  return new Child<AnnouncerReady>(
    "announcer",
    ["--allow-net", "--allow-read", "--allow-env", ANNOUNCER, JSON.stringify(config)],
    '{"announcer":true',
    log,
  );
}

function signal(child: Deno.ChildProcess, name: Deno.Signal): void {
  try {
    child.kill(name);
  } catch {
    // already gone
  }
}

/** Calls `fn` with each line of `stream` (without its newline). */
async function forEachLine(
  stream: ReadableStream<Uint8Array<ArrayBuffer>>,
  fn: (line: string) => void,
): Promise<void> {
  let rest = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    rest += text;
    let newline: number;
    while ((newline = rest.indexOf("\n")) >= 0) {
      fn(rest.slice(0, newline));
      rest = rest.slice(newline + 1);
    }
  }
  if (rest !== "") fn(rest);
}

/** A running cluster. */
export interface Cluster {
  /** The workers as they are now (a restarted one is replaced). */
  readonly workers: readonly WorkerReady[];
  /** The announcer as it is now (`undefined` without one). */
  readonly announcer: AnnouncerReady | undefined;
  /** The key of the workers' HTTP API (/api/). */
  readonly apiKey: string;
  /** Stops every worker (and the announcer) gracefully. */
  stop(): Promise<void>;
  /** Resolves once stopped. */
  readonly stopped: Promise<void>;
}

/**
 * Starts the workers (and the announcer), waits until every one is ready, and keeps them running
 * (restarting any that dies) until `stop()`. Rejects, having stopped the others, when one fails
 * to start.
 */
export async function startCluster(
  options: ClusterOptions,
  events: {
    log: (line: string) => void;
    restarted?: (ready: WorkerReady) => void;
  },
): Promise<Cluster> {
  const workers: Child<WorkerReady>[] = [];
  const readies: WorkerReady[] = [];
  let announcing: Child<AnnouncerReady> | undefined;
  let announced: AnnouncerReady | undefined;
  let stopping = false;
  const { promise: stopped, resolve: markStopped } = Promise.withResolvers<void>();
  const stop = async () => {
    if (stopping) return await stopped;
    stopping = true;
    await Promise.all([...workers, ...announcing ? [announcing] : []].map((child) => child.stop()));
    markStopped();
  };

  /** Starts a child again whenever it dies (after a second, longer if it keeps dying). */
  const keep = <R>(
    child: Child<R>,
    spawn: () => Child<R>,
    replaced: (next: Child<R>) => void,
    ready: (ready: R) => void,
    delay: number,
  ) => {
    void child.child.status.then(async (status) => {
      if (stopping) return;
      const ranFor = performance.now() - child.started;
      const wait = ranFor > 30_000 ? 1_000 : Math.min(delay * 2, 30_000);
      events.log(
        `[${child.label}] exited (${
          status.signal ?? `code ${status.code}`
        }); starting it again in ${wait / 1000} s`,
      );
      await new Promise((resolve) => setTimeout(resolve, wait));
      if (stopping) return;
      const next = spawn();
      replaced(next);
      keep(next, spawn, replaced, ready, wait);
      try {
        ready(await next.ready);
      } catch (error) {
        events.log(String(error instanceof Error ? error.message : error));
      }
    });
  };

  for (let i = 0; i < options.processes; i++) workers.push(worker(i, options, events.log));
  if (options.announce > 0) announcing = announcer(options, events.log);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const [all, first] = await Promise.race([
      Promise.all([Promise.all(workers.map((child) => child.ready)), announcing?.ready]),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`the workers did not listen within ${READY_TIMEOUT / 1000} s`)),
          READY_TIMEOUT,
        );
      }),
    ]);
    readies.push(...all);
    announced = first;
  } catch (error) {
    await stop();
    throw error;
  } finally {
    clearTimeout(timer);
  }
  workers.forEach((child, i) =>
    keep(child, () => worker(i, options, events.log), (next) => workers[i] = next, (ready) => {
      readies[i] = ready;
      events.restarted?.(ready);
    }, 500)
  );
  if (announcing !== undefined) {
    keep(
      announcing,
      () => announcer(options, events.log),
      (next) => announcing = next,
      (ready) => announced = ready,
      500,
    );
  }
  return {
    workers: readies,
    get announcer() {
      return announced;
    },
    apiKey: API_KEY,
    stop,
    stopped,
  };
}

function origin(hostname: string, port: number): string {
  const host = hostname === "0.0.0.0" || hostname === "::"
    ? "localhost"
    : hostname.includes(":")
    ? `[${hostname}]`
    : hostname;
  return `http://${host}:${port}/`;
}

if (import.meta.main) {
  let options: ClusterOptions;
  try {
    options = parseOptions(Deno.args, (name) => Deno.env.get(name));
  } catch (error) {
    console.error((error as Error).message);
    Deno.exit(2);
  }
  if (Deno.build.os !== "linux" && options.processes > 1) {
    console.error(
      "Sharing one port between processes (SO_REUSEPORT) spreads connections only on Linux. " +
        "Elsewhere run --processes=1 several times with different --port values (README.md, " +
        '"Several processes").',
    );
    Deno.exit(2);
  }
  const print = options.json ? console.error : console.log;
  const url = origin(options.hostname, options.port);
  let cluster: Cluster;
  try {
    cluster = await startCluster(options, {
      log: print,
      restarted(ready) {
        if (options.json) console.log(JSON.stringify({ restarted: ready }));
        else console.log(`[worker ${ready.worker}] running again (pid ${ready.pid})`);
      },
    });
  } catch (error) {
    console.error((error as Error).message);
    Deno.exit(1);
  }
  const inspector = { user: "admin", password: options.inspectorPassword };
  if (options.json) {
    console.log(JSON.stringify({
      url,
      redis: options.redis,
      workers: cluster.workers,
      announcer: cluster.announcer,
      api: { key: cluster.apiKey },
      inspector,
    }));
  } else {
    console.log(
      `wshub chat cluster: ${options.processes} processes on ${url} sharing ${options.redis}`,
    );
    for (const ready of cluster.workers) {
      console.log(
        `  worker ${ready.worker} (pid ${ready.pid}, Redis ${ready.backplane}): also alone on ${
          origin(options.hostname, ready.ownPort)
        } (GET /stats, inspector at /inspector/)`,
      );
    }
    console.log(`The inspectors' user is ${inspector.user}, password ${inspector.password}`);
    if (cluster.workers.some((ready) => ready.backplane !== "up")) {
      console.log(
        `Redis is not answering at ${options.redis}: each process serves only its own clients ` +
          "until it does (start it with: redis-server --save '' --appendonly no)",
      );
    }
    if (cluster.announcer !== undefined) {
      console.log(
        `  announcer (pid ${cluster.announcer.pid}, no hub): the time in #general every ${
          options.announce / 1000
        } s, through a RedisEmitter`,
      );
    }
    console.log(
      `Post to #general through any worker's HTTP API (CHAT_API_KEY, else new each run):`,
    );
    console.log(`  ${apiExample(url, cluster.apiKey)}`);
    console.log("Ctrl-C stops them all.");
  }
  let signals = 0;
  const shutdown = () => {
    if (++signals > 1) {
      for (const ready of [...cluster.workers, ...cluster.announcer ? [cluster.announcer] : []]) {
        try {
          Deno.kill(ready.pid, "SIGKILL");
        } catch { /* gone */ }
      }
      Deno.exit(1);
    }
    print("stopping the workers (again to kill them)");
    void cluster.stop().then(() => Deno.exit(0));
  };
  Deno.addSignalListener("SIGINT", shutdown);
  if (Deno.build.os !== "windows") Deno.addSignalListener("SIGTERM", shutdown);
}
