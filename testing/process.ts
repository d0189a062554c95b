/**
 * Child processes for tests, benchmarks and attack scripts: signalling one
 * that may already be gone, and stopping one politely, then surely. Not part
 * of the published package.
 *
 * @module
 */

import { atMost, delay } from "./async.ts";

/** Sends `sig` to `child`; nothing happens when it has already exited. */
export function signal(child: Deno.ChildProcess, sig: Deno.Signal): void {
  try {
    child.kill(sig);
  } catch {
    // already exited
  }
}

/**
 * Sends SIGTERM to `child` and waits for it to exit, sending SIGKILL after
 * `graceMs`; resolves with its status.
 */
export async function terminate(
  child: Deno.ChildProcess,
  graceMs = 3000,
): Promise<Deno.CommandStatus> {
  signal(child, "SIGTERM");
  const status = await atMost(child.status, graceMs, undefined);
  if (status !== undefined) return status;
  signal(child, "SIGKILL");
  return await child.status;
}

/**
 * The first line a child prints on its stdout (a process that says where it
 * listens), without the newline; the rest of its stdout is discarded.
 * Throws when it ends first, saying `what` ended.
 */
export async function firstLine(child: Deno.ChildProcess, what: string): Promise<string> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let line = "";
  while (!line.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${what} ended before listening`);
    line += value;
  }
  reader.releaseLock();
  void child.stdout.cancel().catch(() => {});
  return line.slice(0, line.indexOf("\n"));
}

const warnedAbout = new Set<string>();

/**
 * Why tests that need the server `binary` (installed by the Debian package
 * `apt`) should be skipped, or `undefined` to run them: `undefined` when it
 * is `available`, and always in CI (`CI=true`), where the tests run and fail
 * with an explicit message instead. Warns once per binary.
 */
export function missingServerReason(
  available: boolean,
  binary: string,
  apt: string,
): string | undefined {
  if (available || inCI()) return undefined;
  const reason = `${binary} not found on PATH (apt-get install ${apt}); its tests skipped`;
  if (!warnedAbout.has(binary)) {
    warnedAbout.add(binary);
    console.warn(`%c${reason}`, "color: yellow");
  }
  return reason;
}

function inCI(): boolean {
  try {
    return Deno.env.get("CI") === "true";
  } catch {
    return false; // no --allow-env
  }
}

/** How {@linkcode spawnServer} starts a server and knows it is ready. */
export interface SpawnServerOptions {
  /** Its arguments; they must send its log to `log`. */
  args: readonly string[];
  /** Its log file (made empty first); its last lines go into the error when it fails to start. */
  log: string;
  /** Whether it is ready: polled every `pollMs` until true. */
  ready: () => Promise<boolean>;
  /** What "ready" means, for the error: "did not answer PING". */
  notReady: string;
  /** The port it listens on, for the error. */
  port: number;
  /** How long it may take, in ms. */
  startupMs: number;
  /** How often `ready` is asked, in ms (10). */
  pollMs?: number;
}

/**
 * Spawns the server `binary` and resolves once `ready()` says so; when it
 * exits first or is not ready in time, kills it and throws with the last
 * lines of its log.
 */
export async function spawnServer(
  binary: string,
  options: SpawnServerOptions,
): Promise<Deno.ChildProcess> {
  const { args, log, ready, notReady, port, startupMs, pollMs = 10 } = options;
  await Deno.writeTextFile(log, "");
  const child = new Deno.Command(binary, {
    args: [...args],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const deadline = performance.now() + startupMs;
  while (!exited && performance.now() < deadline) {
    if (await ready()) return child;
    await delay(pollMs);
  }
  if (!exited) signal(child, "SIGKILL");
  const { code } = await status;
  const text = await Deno.readTextFile(log).catch(() => "");
  const name = binary.split("/").pop();
  throw new Error(
    `${name} on port ${port} ${
      exited ? `exited with code ${code}` : `${notReady} within ${startupMs} ms`
    }:\n${text.trim().split("\n").slice(-5).join("\n")}`,
  );
}
