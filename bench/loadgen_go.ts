/**
 * Builds the Go load generator (bench/loadgen_go/) for bench/run.ts: once per run, into a temp
 * directory, in GOPATH mode against the gorilla/websocket that Debian installs
 * (`golang-github-gorilla-websocket-dev`, /usr/share/gocode). It takes the same flags as
 * bench/loadgen.ts for the plain and framed modes and prints the same JSON report; Socket.IO stays
 * with bench/loadgen.ts.
 *
 * ```sh
 * deno run -A bench/loadgen_go.ts            # build, print the binary's path (kept)
 * ```
 *
 * @module
 */

/** A built load generator: its binary, the temp directory to remove, `go version`. */
export interface GoLoadgen {
  binary: string;
  dir: string;
  goVersion: string;
}

/** Where gorilla/websocket is looked for, besides `$GOPATH`. */
export const SYSTEM_GOPATH = "/usr/share/gocode";

async function run(
  cmd: string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): Promise<{ code: number; out: string; err: string }> {
  try {
    const p = await new Deno.Command(cmd[0], {
      args: cmd.slice(1),
      cwd: opts.cwd,
      env: opts.env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    return { code: p.code, out: dec.decode(p.stdout), err: dec.decode(p.stderr) };
  } catch (e) {
    return { code: -1, out: "", err: e instanceof Error ? e.message : String(e) };
  }
}

/**
 * Builds bench/loadgen_go into a new temp directory. Resolves to the binary, or to `{ error }`
 * saying why not (no `go`, no gorilla/websocket, a failed build): the caller falls back to
 * bench/loadgen.ts.
 */
export async function buildGoLoadgen(root: string): Promise<GoLoadgen | { error: string }> {
  const version = await run(["go", "version"]);
  if (version.code !== 0) return { error: "`go` not found" };
  const gopaths = [Deno.env.get("GOPATH"), SYSTEM_GOPATH].filter((p): p is string => !!p);
  const gorilla = await Promise.all(
    gopaths.map((p) =>
      Deno.stat(`${p}/src/github.com/gorilla/websocket/conn.go`).then(() => true, () => false)
    ),
  );
  if (!gorilla.some((x) => x)) {
    return {
      error: `github.com/gorilla/websocket not found under ${
        gopaths.join(", ")
      } (Debian: apt-get install golang-github-gorilla-websocket-dev)`,
    };
  }
  const dir = await Deno.makeTempDir({ prefix: "wshub-loadgen-go-" });
  const binary = `${dir}/loadgen`;
  const env: Record<string, string> = {
    GO111MODULE: "off",
    GOPATH: [`${dir}/gopath`, ...gopaths].join(":"),
    GOFLAGS: "",
    GOTOOLCHAIN: "local",
  };
  if (!Deno.env.get("HOME") && !Deno.env.get("GOCACHE")) env.GOCACHE = `${dir}/cache`;
  const build = await run(["go", "build", "-o", binary, "./bench/loadgen_go"], { cwd: root, env });
  if (build.code !== 0) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    return { error: `go build failed:\n${build.err.trim().slice(0, 2000)}` };
  }
  return { binary, dir, goVersion: version.out.trim() };
}

if (import.meta.main) {
  const r = await buildGoLoadgen(new URL("../", import.meta.url).pathname);
  if ("error" in r) {
    console.error(r.error);
    Deno.exit(1);
  }
  console.log(r.binary);
}
