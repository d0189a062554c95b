/**
 * A real nats-server for tests and benchmarks: one private server per test on
 * a free 127.0.0.1 port, with JetStream on (-js) and its monitoring port, that
 * a test can kill and bring back on the same port. Tests skip when
 * nats-server is not installed, except in CI (CI=true), where they fail
 * instead so a missing install step cannot hide. Not part of the published
 * package.
 *
 * @module
 */

import { freePort } from "./net.ts";
import { missingServerReason, spawnServer } from "./process.ts";

/** A nats-server started by {@link startNats}. */
export interface NatsServer {
  /** `nats://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** Its HTTP monitoring port (/connz, /healthz, /jsz). */
  readonly monitor: number;
  /** Whether the process is running (false after `kill()` until `restart()`). */
  readonly running: boolean;
  /** The running process's id (`undefined` while it is not running): for CPU accounting. */
  readonly pid: number | undefined;
  /** Ends the server (SIGTERM, then SIGKILL after 2 s) and removes its temp dir. Idempotent. */
  stop(): Promise<void>;
  /** Kills the server if running, then starts a fresh one on the same ports: all data is gone. */
  restart(): Promise<void>;
  /** SIGKILLs the server and waits for the process to be reaped; the port goes dead. */
  kill(): Promise<void>;
  /** GETs a monitoring endpoint (such as `/connz?subs=1`) and returns its JSON. */
  monitoring<T = Record<string, unknown>>(path: string): Promise<T>;
  [Symbol.asyncDispose](): Promise<void>;
}

const STARTUP_MS = 5_000;
const PORT_ATTEMPTS = 5;

let binary: Promise<string | undefined> | undefined;

/** The nats-server to run: on PATH, or where Debian puts it (/usr/sbin); cached. */
function natsBinary(): Promise<string | undefined> {
  binary ??= (async () => {
    for (const candidate of ["nats-server", "/usr/sbin/nats-server"]) {
      try {
        const { success } = await new Deno.Command(candidate, {
          args: ["--version"],
          stdout: "null",
          stderr: "null",
        }).output();
        if (success) return candidate;
      } catch {
        // not there
      }
    }
    return undefined;
  })();
  return binary;
}

/** Whether `nats-server` can be run (cached). */
export async function natsAvailable(): Promise<boolean> {
  return (await natsBinary()) !== undefined;
}

/**
 * Why NATS tests should be skipped, or `undefined` to run them. In CI
 * (`CI=true`) it is always `undefined`: the tests run and fail in
 * {@link startNats} with an explicit message when nats-server is missing.
 */
export async function natsSkipReason(): Promise<string | undefined> {
  return missingServerReason(await natsAvailable(), "nats-server", "nats-server");
}

const ignore = (await natsSkipReason()) !== undefined;

/** A test that needs nats-server (see {@link natsSkipReason}). */
export function natsTest(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, ignore, fn });
}

/**
 * Starts a private nats-server on a free 127.0.0.1 port, with JetStream
 * unless `jetstream` is false; resolves once it is healthy.
 */
export async function startNats({ jetstream = true } = {}): Promise<NatsServer> {
  if (!(await natsAvailable())) {
    throw new Error(
      "nats-server not found on PATH; the NATS tests need it (apt-get install nats-server)",
    );
  }
  const dir = await Deno.makeTempDir({ prefix: "wshub-nats-" });
  let child: Deno.ChildProcess | undefined;
  let port = 0;
  let monitor = 0;
  try {
    let lastError: unknown;
    for (let attempt = 0; attempt < PORT_ATTEMPTS && child === undefined; attempt++) {
      port = freePort();
      monitor = freePort();
      try {
        child = await spawn(port, monitor, dir, jetstream);
      } catch (err) {
        lastError = err; // most likely a port was taken between freePort() and bind
      }
    }
    if (child === undefined) throw lastError;
  } catch (err) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw err;
  }

  let stopped = false;
  const kill = async () => {
    const running = child;
    if (running === undefined) return;
    child = undefined;
    try {
      running.kill("SIGKILL");
    } catch { /* already exited */ }
    await running.status;
  };
  const server: NatsServer = {
    url: `nats://127.0.0.1:${port}`,
    port,
    monitor,
    get running() {
      return child !== undefined;
    },
    get pid() {
      return child?.pid;
    },
    kill,
    async restart() {
      if (stopped) throw new Error("restart() after stop()");
      await kill();
      await Deno.remove(`${dir}/jetstream`, { recursive: true }).catch(() => {});
      child = await spawn(port, monitor, dir, jetstream);
    },
    async monitoring<T>(path: string): Promise<T> {
      const response = await fetch(`http://127.0.0.1:${monitor}${path}`);
      return await response.json() as T;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      const running = child;
      child = undefined;
      if (running !== undefined) {
        try {
          running.kill("SIGTERM");
        } catch { /* already exited */ }
        let timer: ReturnType<typeof setTimeout> | undefined;
        const exited = await Promise.race([
          running.status.then(() => true),
          new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), 2_000)),
        ]);
        clearTimeout(timer);
        if (!exited) {
          try {
            running.kill("SIGKILL");
          } catch { /* exited meanwhile */ }
          await running.status;
        }
      }
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
    [Symbol.asyncDispose]() {
      return this.stop();
    },
  };
  return server;
}

/** Spawns nats-server and resolves once /healthz says ok (JetStream ready); kills it and throws otherwise. */
async function spawn(
  port: number,
  monitor: number,
  dir: string,
  jetstream: boolean,
): Promise<Deno.ChildProcess> {
  const log = `${dir}/nats.log`;
  return await spawnServer((await natsBinary())!, {
    args: [
      "-a",
      "127.0.0.1",
      "-p",
      String(port),
      "-m",
      String(monitor),
      ...(jetstream ? ["-js", "-sd", dir] : []),
      "-l",
      log,
    ],
    log,
    ready: () => healthy(monitor),
    notReady: "was not healthy",
    port,
    startupMs: STARTUP_MS,
    pollMs: 20,
  });
}

async function healthy(monitor: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${monitor}/healthz`);
    const body = await response.json() as { status?: string };
    return response.ok && body.status === "ok";
  } catch {
    return false;
  }
}
