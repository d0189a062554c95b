/**
 * A real redis-server for tests and benchmarks: one private server per caller
 * on a free 127.0.0.1 port, with no persistence, that a test can kill and
 * bring back on the same port. Tests skip when redis-server is not installed,
 * except in CI (CI=true), where they fail instead so a missing install step
 * cannot hide. Not part of the published package.
 *
 * @module
 */

import { freePort } from "./net.ts";
import { missingServerReason, signal, spawnServer, terminate } from "./process.ts";

/** A redis-server started by {@link startRedis}. */
export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** The redis-server process's id (a new one after `restart()`; -1 while not running). */
  readonly pid: number;
  /** Whether the process is running (false after `kill()` until `restart()`). */
  readonly running: boolean;
  /** Ends the server (SIGTERM, then SIGKILL after 2 s) and removes its temp dir. Idempotent. */
  stop(): Promise<void>;
  /** Kills the server if running, then starts a fresh one on the same port: all data is gone. */
  restart(): Promise<void>;
  /** SIGKILLs the server and waits for the process to be reaped; the port goes dead. */
  kill(): Promise<void>;
  /**
   * SIGSTOPs the server: connections stay open and the kernel still accepts new
   * ones, but nothing is answered (a hung server or a silent network).
   */
  freeze(): void;
  /** SIGCONTs a frozen server. */
  thaw(): void;
  [Symbol.asyncDispose](): Promise<void>;
}

const STARTUP_MS = 5_000;
const PORT_ATTEMPTS = 5;

let available: Promise<boolean> | undefined;

/** Whether `redis-server` can be run (cached). */
export function redisAvailable(): Promise<boolean> {
  available ??= (async () => {
    try {
      const { success } = await new Deno.Command("redis-server", {
        args: ["--version"],
        stdout: "null",
        stderr: "null",
      }).output();
      return success;
    } catch {
      return false;
    }
  })();
  return available;
}

/**
 * Why Redis tests should be skipped, or `undefined` to run them. In CI
 * (`CI=true`) it is always `undefined`: the tests run and fail in
 * {@link startRedis} with an explicit message when redis-server is missing.
 * Use as `Deno.test({ ignore: (await skipReason()) !== undefined, ... })`.
 */
export async function skipReason(): Promise<string | undefined> {
  return missingServerReason(await redisAvailable(), "redis-server", "redis-server");
}

/** Starts a private redis-server on a free 127.0.0.1 port and waits until it answers PING. */
export async function startRedis(): Promise<RedisServer> {
  if (!(await redisAvailable())) {
    throw new Error(
      "redis-server not found on PATH; the Redis tests need it (apt-get install redis-server)",
    );
  }
  const dir = await Deno.makeTempDir({ prefix: "wshub-redis-" });
  let child: Deno.ChildProcess | undefined;
  let port = 0;
  try {
    let lastError: unknown;
    for (let attempt = 0; attempt < PORT_ATTEMPTS && child === undefined; attempt++) {
      port = freePort();
      try {
        child = await spawnRedisServer(port, dir);
      } catch (err) {
        lastError = err; // most likely the port was taken between freePort() and bind
      }
    }
    if (child === undefined) throw lastError;
  } catch (err) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw err;
  }

  let stopped = false;
  let frozen = false;
  const thaw = () => {
    if (frozen && child !== undefined) signal(child, "SIGCONT");
    frozen = false;
  };
  const kill = async () => {
    const running = child;
    if (running === undefined) return;
    child = undefined;
    frozen = false;
    signal(running, "SIGKILL");
    await running.status;
  };
  const server: RedisServer = {
    url: `redis://127.0.0.1:${port}`,
    port,
    get pid() {
      return child?.pid ?? -1;
    },
    get running() {
      return child !== undefined;
    },
    kill,
    freeze() {
      if (child === undefined) throw new Error("freeze() while not running");
      signal(child, "SIGSTOP");
      frozen = true;
    },
    thaw,
    async restart() {
      if (stopped) throw new Error("restart() after stop()");
      await kill();
      child = await spawnRedisServer(port, dir);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      thaw(); // a stopped process would not act on SIGTERM
      const running = child;
      child = undefined;
      if (running !== undefined) await terminate(running, 2_000);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
    [Symbol.asyncDispose]() {
      return this.stop();
    },
  };
  return server;
}

/**
 * Spawns redis-server on `port` (its files in `dir`, plus `extra` arguments)
 * and resolves once it answers PING; kills it and throws otherwise.
 */
export async function spawnRedisServer(
  port: number,
  dir: string,
  extra: readonly string[] = [],
): Promise<Deno.ChildProcess> {
  const log = `${dir}/redis.log`;
  return await spawnServer("redis-server", {
    args: [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      dir,
      "--logfile",
      log,
      "--daemonize",
      "no",
      ...extra,
    ],
    log,
    ready: () => ping(port),
    notReady: "did not answer PING",
    port,
    startupMs: STARTUP_MS,
  });
}

/** One PING over a fresh TCP connection; true on +PONG. */
async function ping(port: number): Promise<boolean> {
  let conn: Deno.TcpConn | undefined;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(new TextEncoder().encode("PING\r\n"));
    const buf = new Uint8Array(64);
    let text = "";
    while (!text.includes("\r\n")) {
      const n = await conn.read(buf);
      if (n === null) return false;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    return text.startsWith("+PONG");
  } catch {
    return false;
  } finally {
    conn?.close();
  }
}

/**
 * Runs `redis-cli -h 127.0.0.1 -p <port> <args>` and returns its stdout without
 * the trailing newline (one line per element of an array reply).
 */
export async function redisCli(port: number, ...args: string[]): Promise<string> {
  const { success, stdout, stderr } = await new Deno.Command("redis-cli", {
    args: ["-h", "127.0.0.1", "-p", String(port), ...args],
    stdin: "null",
  }).output();
  const out = new TextDecoder().decode(stdout).replace(/\n$/, "");
  if (!success) {
    throw new Error(`redis-cli ${args.join(" ")} failed: ${new TextDecoder().decode(stderr)}`);
  }
  return out;
}
