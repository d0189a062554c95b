// A hub in a child process (tests/fixtures/hub_process.ts), for tests that
// must watch the server survive what they do to it.

import type { HubStats } from "../mod.ts";

/** One stats line of the child. */
export type ProcessStats = HubStats & { rss: number; heapUsed: number; restarts: number };

/** A running hub process. */
export interface HubProcess {
  port: number;
  url: string;
  /** The latest stats line. */
  readonly stats: ProcessStats | undefined;
  /** Resolves with the first stats line for which `condition` holds, within `ms`. */
  until(
    condition: (stats: ProcessStats) => boolean,
    ms: number,
    what: string,
  ): Promise<ProcessStats>;
  /** Whether the process is still running. */
  readonly alive: boolean;
  /** Everything it wrote to stderr. */
  readonly stderr: string;
  /** Stops it (closing stdin: the hub closes gracefully) and waits, killing it after 5 s. */
  stop(): Promise<Deno.CommandStatus>;
}

/** Starts tests/fixtures/hub_process.ts with `config`; `prlimit` caps its descriptors. */
export async function startHubProcess(
  config: Record<string, unknown>,
  options: { nofile?: number; v8Flags?: string } = {},
): Promise<HubProcess> {
  const script = new URL("./fixtures/hub_process.ts", import.meta.url).pathname;
  const deno = ["run", "-A", "--quiet"];
  if (options.v8Flags !== undefined) deno.push(`--v8-flags=${options.v8Flags}`);
  deno.push(script, JSON.stringify(config));
  const [command, args] = options.nofile === undefined
    ? [Deno.execPath(), deno]
    : ["prlimit", [`--nofile=${options.nofile}:${options.nofile}`, Deno.execPath(), ...deno]];
  const child = new Deno.Command(command, {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let alive = true;
  const status = child.status.then((status) => {
    alive = false;
    return status;
  });
  let stderr = "";
  const stderrDone = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) stderr += chunk;
  })();
  let latest: ProcessStats | undefined;
  let wake: (() => void)[] = [];
  let port: number | undefined;
  const { promise: listening, resolve: listened, reject: failed } = Promise.withResolvers<void>();
  const stdoutDone = (async () => {
    let buffer = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      let newline: number;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        const value = JSON.parse(line);
        if (typeof value.port === "number" && port === undefined) {
          port = value.port;
          listened();
        } else {
          latest = value;
          for (const resolve of wake.splice(0)) resolve();
        }
      }
    }
    failed(new Error(`the hub process ended before listening: ${stderr}`));
    for (const resolve of wake.splice(0)) resolve();
  })();
  await listening;
  const writer = child.stdin.getWriter();
  return {
    port: port!,
    url: `ws://127.0.0.1:${port}/ws`,
    get stats() {
      return latest;
    },
    get alive() {
      return alive;
    },
    get stderr() {
      return stderr;
    },
    async until(condition, ms, what) {
      const deadline = performance.now() + ms;
      while (true) {
        if (latest !== undefined && condition(latest)) return latest;
        if (!alive) throw new Error(`the hub process died waiting for ${what}: ${stderr}`);
        const left = deadline - performance.now();
        if (left <= 0) {
          throw new Error(
            `timed out after ${ms} ms waiting for ${what}: ${JSON.stringify(latest)}`,
          );
        }
        let timer: ReturnType<typeof setTimeout> | undefined;
        await new Promise<void>((resolve) => {
          wake.push(resolve);
          timer = setTimeout(resolve, left);
        });
        clearTimeout(timer);
      }
    },
    async stop() {
      await writer.close().catch(() => {});
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // already gone
        }
      }, 5000);
      const result = await status;
      clearTimeout(timer);
      await Promise.all([stdoutDone, stderrDone]);
      wake = [];
      return result;
    },
  };
}
