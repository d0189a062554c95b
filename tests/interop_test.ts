// Interop (issue #9): real third-party WebSocket clients, each in its own
// runtime, against a real hub served by Deno.serve on 127.0.0.1 in this
// process. The client programs live in tests/interop/: Python `websockets`
// (python/), Go gorilla/websocket (go/, built once per run in GOPATH mode)
// and Node's `ws` run under Node (node/, installed with `npm ci`). Each
// prints one JSON object per line; the tests assert on those lines, on the
// exit code and on what the hub saw.
//
// A runtime that is absent skips its test, saying why, except in CI
// (CI=true), where it fails: .ci/run installs all three.
// Set WSHUB_INTEROP_VERBOSE=1 to print each handshake's response header.

import assert from "node:assert/strict";
import { protocolToken } from "../mod.ts";
import { serveHub, TestClient, until } from "./_helpers.ts";

const here = new URL("./interop/", import.meta.url);
const path = (relative: string) => decodeURIComponent(new URL(relative, here).pathname);
const PYTHON = "/usr/bin/python3";
const GORILLA = "/usr/share/gocode/src/github.com/gorilla/websocket";
const IN_CI = Deno.env.get("CI") === "true";
const VERBOSE = Deno.env.get("WSHUB_INTEROP_VERBOSE") === "1";
const CLIENT_TIMEOUT = 20_000;

const decoder = new TextDecoder();
const encoder = new TextEncoder();

// --- Which runtimes are here -------------------------------------------------

/** Runs a command to completion; never throws. */
async function probe(cmd: string, args: string[]): Promise<{ ok: boolean; out: string }> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
    return {
      ok: out.success,
      out: (decoder.decode(out.stdout) + decoder.decode(out.stderr)).trim(),
    };
  } catch (error) {
    return { ok: false, out: (error as Error).message };
  }
}

async function exists(file: string): Promise<boolean> {
  return await Deno.stat(file).then(() => true, () => false);
}

interface Runtime {
  label: string;
  /** Why it cannot run here, or undefined when it can. */
  missing: string | undefined;
}

async function pythonRuntime(): Promise<Runtime> {
  const label = "Python websockets";
  const found = await probe(PYTHON, ["-c", "import websockets; print(websockets.__version__)"]);
  return {
    label,
    missing: found.ok
      ? undefined
      : `${PYTHON} cannot import websockets (apt-get install -y python3-websockets): ${found.out}`,
  };
}

async function goRuntime(): Promise<Runtime> {
  const label = "Go gorilla/websocket";
  const go = await probe("go", ["version"]);
  if (!go.ok) return { label, missing: `no go (apt-get install -y golang-go): ${go.out}` };
  if (!await exists(`${GORILLA}/conn.go`)) {
    return {
      label,
      missing: `no ${GORILLA} (apt-get install -y golang-github-gorilla-websocket-dev)`,
    };
  }
  return { label, missing: undefined };
}

async function nodeRuntime(): Promise<Runtime> {
  const label = "Node ws";
  // Without a node on PATH, Deno.Command("node") runs Deno itself as Node
  // (Deno 2.9.6 reports v26.3.0): that is not the runtime under test.
  const node = await probe("node", ["-p", "process.versions.deno ?? process.version"]);
  if (!node.ok) return { label, missing: `no node: ${node.out}` };
  if (!node.out.startsWith("v")) {
    return { label, missing: `"node" resolves to Deno ${node.out}, not Node (install nodejs)` };
  }
  if (!await exists(path("node/node_modules/ws/package.json"))) {
    return {
      label,
      missing: "no tests/interop/node/node_modules (npm ci --prefix tests/interop/node)",
    };
  }
  return { label, missing: undefined };
}

const [python, go, node] = await Promise.all([pythonRuntime(), goRuntime(), nodeRuntime()]);

/** Registers a runtime's test: skipped with the reason where it is absent, failing in CI. */
function interopTest(runtime: Runtime, name: string, fn: (t: Deno.TestContext) => Promise<void>) {
  const title = `interop, ${runtime.label}: ${name}`;
  if (runtime.missing === undefined) {
    Deno.test(title, fn);
  } else if (IN_CI) {
    Deno.test(title, () => {
      throw new Error(`${runtime.label} is missing in CI: ${runtime.missing}; .ci/run installs it`);
    });
  } else {
    console.log(`interop_test: skipped "${title}": ${runtime.missing}`);
    Deno.test({ name: `${title} (skipped: ${runtime.label} is absent)`, ignore: true, fn });
  }
}

// --- Running a client program ------------------------------------------------

/** One line a client program printed. */
interface ClientEvent {
  event: string;
  [field: string]: unknown;
}

interface ClientResult {
  code: number;
  events: ClientEvent[];
  /** Everything printed, for assertion messages. */
  transcript: string;
}

/** A client program running as a child process, killed if it outlives `timeout`. */
class ClientProcess {
  readonly result: Promise<ClientResult>;
  #child: Deno.ChildProcess;
  #done = false;
  #timedOut = false;

  constructor(command: string[], timeout = CLIENT_TIMEOUT) {
    const [cmd, ...args] = command;
    this.#child = new Deno.Command(cmd, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const timer = setTimeout(() => {
      this.#timedOut = true;
      this.kill();
    }, timeout);
    this.result = this.#child.output().then((out) => {
      clearTimeout(timer);
      this.#done = true;
      const stdout = decoder.decode(out.stdout);
      const stderr = decoder.decode(out.stderr);
      const events = stdout.split("\n").filter((line) => line !== "").map((line) => {
        try {
          return JSON.parse(line) as ClientEvent;
        } catch {
          return { event: "unparsed", line };
        }
      });
      const ended = this.#timedOut ? `killed after ${timeout} ms` : `exit ${out.code}`;
      const transcript = `${command.join(" ")}\n${ended}\nstdout:\n${stdout.slice(0, 4000)}\n` +
        `stderr:\n${stderr.slice(0, 4000)}`;
      return { code: out.code, events, transcript };
    });
  }

  /** Whether the process has exited. */
  get done(): boolean {
    return this.#done;
  }

  /**
   * Waits until `condition()` holds; fails at once, with the transcript, if
   * the process exits first, and after `ms` otherwise.
   */
  async until(condition: () => boolean, what: string, ms = CLIENT_TIMEOUT): Promise<void> {
    await until(
      async () => {
        if (condition()) return true;
        if (!this.#done) return false;
        throw new Error(
          `the client exited while waiting for ${what}:\n${(await this.result).transcript}`,
        );
      },
      ms,
      what,
    );
  }

  kill(): void {
    if (this.#done) return;
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // already exited
    }
  }

  /** Kills the process if it is still running and waits for it: call in `finally`. */
  async dispose(): Promise<void> {
    this.kill();
    await this.result.catch(() => {});
  }
}

/** Runs `body` with a client process, never leaving the process behind. */
async function withClient<T>(
  command: string[],
  body: (client: ClientProcess) => Promise<T>,
): Promise<T> {
  const client = new ClientProcess(command);
  try {
    return await body(client);
  } finally {
    await client.dispose();
  }
}

/** How a runtime's client program is started; `protocols` as JSON (array, or a raw header string for Go). */
type Launcher = (mode: string, url: string, protocols?: string[] | string) => string[];

const pythonPlain: Launcher = (mode, url, protocols) => [
  PYTHON,
  path("python/plain_client.py"),
  mode,
  url,
  ...(protocols === undefined ? [] : [JSON.stringify(protocols)]),
];
const pythonFramed = (url: string) => [PYTHON, path("python/framed_client.py"), url];
const nodeClient: Launcher = (mode, url, protocols) => [
  "node",
  path("node/ws_client.mjs"),
  mode,
  url,
  ...(protocols === undefined ? [] : [JSON.stringify(protocols)]),
];
const goClient = (binary: string): Launcher => (mode, url, protocols) => [
  binary,
  mode,
  url,
  ...(protocols === undefined ? [] : [JSON.stringify(protocols)]),
];

/** Builds the Go client once into `dir` (GOPATH mode, a private GOCACHE). */
async function buildGo(dir: string): Promise<string> {
  const binary = `${dir}/wshub-interop`;
  const out = await new Deno.Command("go", {
    args: ["build", "-o", binary, "."],
    cwd: path("go"),
    env: {
      GO111MODULE: "off",
      GOPATH: `${dir}/gopath:/usr/share/gocode`,
      GOCACHE: `${dir}/gocache`,
      GOFLAGS: "",
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, `go build failed:\n${decoder.decode(out.stderr)}`);
  return binary;
}

// --- What the hub sends and expects back ---------------------------------------

/** 100 KB of text with 2-, 3- and 4-byte characters. */
const BIG_TEXT = "é中😀x".repeat(10 * 1024);
const BIG_BINARY = Uint8Array.from({ length: 100 * 1024 }, (_, i) => (i * 7919 + 13) % 256);

const MESSAGES: (string | Uint8Array)[] = [
  "hello",
  "😀",
  "",
  "héllo wörld 😀 中文 𝄞",
  "p1", // a plain client gets it as it is: no tags on a plain connection
  new Uint8Array([0x6d, 0x70, 0x31, 0, 127, 128, 255]),
  new Uint8Array(0),
  BIG_TEXT,
  BIG_BINARY,
];

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A message as the client programs print it. */
function printed(message: string | Uint8Array): { type: string; hex: string } {
  return typeof message === "string"
    ? { type: "text", hex: hex(encoder.encode(message)) }
    : { type: "binary", hex: hex(message) };
}

function messagesOf(events: ClientEvent[]): { type: string; hex: string }[] {
  return events.filter((e) => e.event === "message").map((e) => ({
    type: e.type as string,
    hex: e.hex as string,
  }));
}

/** Identity: `?user=` names the user; a credential must be "s3cr3t" and marks it. */
function identify(req: Request): string | undefined | Response {
  const user = new URL(req.url).searchParams.get("user") ?? undefined;
  const token = protocolToken(req);
  if (token === undefined) return user;
  return token === "s3cr3t" ? `${user}+token` : new Response("unknown token", { status: 401 });
}

/** A hub that records what each user sent and who connected how. */
function recordingHub(
  options: Parameters<typeof serveHub<string | Uint8Array, string | Uint8Array>>[0] = {},
) {
  const received = new Map<string, (string | Uint8Array)[]>();
  const connects: { user: string | undefined; framed: boolean; protocol: string }[] = [];
  const served = serveHub<string | Uint8Array, string | Uint8Array>({
    identify,
    onConnect(client) {
      connects.push({ user: client.user, framed: client.framed, protocol: client.protocol });
    },
    onMessage(message, client) {
      const user = client.user ?? "";
      if (!received.has(user)) received.set(user, []);
      received.get(user)!.push(message);
    },
    ...options,
  });
  return { served, received, connects };
}

// --- Scenarios -----------------------------------------------------------------

/**
 * Plain echo: byte-exact text (emoji, empty, 100 KB) and binary both ways,
 * delivered to one user's connection only.
 */
async function plainEcho(launch: Launcher): Promise<void> {
  const { served, received } = recordingHub();
  const bob = await TestClient.open(`${served.url}?user=bob`);
  try {
    await withClient(launch("echo", `${served.url}?user=alice`), async (client) => {
      await client.until(
        () => served.hub.clientsOf("alice").length === 1,
        "the client to connect as alice",
      );
      // Queued first: were it wrongly delivered to alice, it would precede her messages.
      assert.equal(await served.hub.sendToUser("bob", "for bob only"), 1);
      for (const message of MESSAGES) {
        assert.equal(await served.hub.sendToUser("alice", message), 1);
      }
      await served.hub.sendToUser("alice", "bye");
      const result = await client.result;
      assert.equal(result.code, 0, result.transcript);
      const open = result.events[0];
      assert.deepEqual(
        [open.event, open.protocol, open.header ?? ""],
        ["open", "", ""],
        result.transcript,
      );
      if (open.runtime !== undefined) {
        assert.match(String(open.runtime), /^node v\d+/, "Node itself, not Deno's emulation");
      }
      assert.deepEqual(
        messagesOf(result.events),
        [...MESSAGES, "bye"].map(printed),
        "alice received exactly her messages, byte for byte",
      );
      const close = result.events.at(-1)!;
      assert.deepEqual([close.event, close.code], ["close", 1000], result.transcript);
      await until(
        () => (received.get("alice")?.length ?? 0) >= MESSAGES.length,
        5000,
        "the echoes",
      );
      assert.deepEqual(received.get("alice"), MESSAGES, "the hub received exactly what it sent");
      assert.deepEqual(bob.messages, ["for bob only"], "bob got his message and nothing else");
    });
  } finally {
    await served.close();
    await bob.closed;
  }
}

/** One handshake case: what is offered, what must be echoed, framed or not. */
interface HandshakeCase {
  offer: string[] | string;
  echoed: string;
  framed: boolean;
  token?: boolean;
}

/**
 * Subprotocol lists in the client library's own joining (and, for Go, raw
 * headers in any spacing): the right protocol is echoed, a token never is,
 * the connection is framed exactly when wshub.v1 was offered, and the close
 * handshake completes (so the socket really opened).
 */
async function handshakes(launch: Launcher, cases: HandshakeCase[]): Promise<void> {
  const { served, connects } = recordingHub();
  try {
    const results = await Promise.all(cases.map((c, i) =>
      withClient(
        launch("handshake", `${served.url}?user=case${i}`, c.offer),
        (client) => client.result,
      )
    ));
    for (const [i, c] of cases.entries()) {
      const result = results[i];
      const what = `offer ${JSON.stringify(c.offer)}\n${result.transcript}`;
      assert.equal(result.code, 0, what);
      const open = result.events.find((e) => e.event === "open");
      assert.ok(open !== undefined, what);
      if (VERBOSE) {
        console.log(
          `  offered ${JSON.stringify(c.offer)} -> Sec-WebSocket-Protocol: ${open.header}`,
        );
      }
      assert.equal(open.header, c.echoed, `the response header: ${what}`);
      assert.equal(open.protocol, c.echoed, `the protocol the client library settled on: ${what}`);
      assert.ok(!String(open.header).includes("s3cr3t"), `a token is never echoed: ${what}`);
      const close = result.events.find((e) => e.event === "close");
      assert.equal(close?.code, 1000, `a clean close handshake: ${what}`);
      const user = c.token ? `case${i}+token` : `case${i}`;
      const connect = connects.find((x) => x.user === user);
      assert.ok(connect !== undefined, `registered as ${user}: ${what}`);
      assert.equal(connect.framed, c.framed, `framed: ${what}`);
      assert.equal(connect.protocol, c.echoed, what);
    }
  } finally {
    await served.close();
  }
}

/** The cases every client library can express with its own list API. */
const LIST_CASES: HandshakeCase[] = [
  { offer: ["chat", "superchat"], echoed: "chat", framed: false },
  { offer: ["foo", "wshub.v1"], echoed: "wshub.v1", framed: true },
  { offer: ["wshub.v1", "wshub.token.s3cr3t"], echoed: "wshub.v1", framed: true, token: true },
  { offer: ["wshub.token.s3cr3t", "chat"], echoed: "chat", framed: false, token: true },
];

/** Raw headers in the spacings RFC 7230 allows (Go sends them as they are). */
const RAW_CASES: HandshakeCase[] = [
  { offer: "foo,wshub.v1", echoed: "wshub.v1", framed: true },
  { offer: "foo ,wshub.v1", echoed: "wshub.v1", framed: true },
  { offer: "foo,  wshub.v1", echoed: "wshub.v1", framed: true },
  { offer: "foo\t,\twshub.v1", echoed: "wshub.v1", framed: true },
  { offer: "wshub.v1,wshub.token.s3cr3t", echoed: "wshub.v1", framed: true, token: true },
  { offer: "chat,superchat", echoed: "chat", framed: false },
  { offer: ",chat, ,superchat,", echoed: "chat", framed: false },
];

/** The texts sent as one burst, so that they reach a framed client as one `b` frame. */
const BATCH = ["😀", "", "a😀b", "é", "𝄞 music", "1:2", "b3:abc", "x".repeat(300)];
const SOLO = "solo 😀 in an m frame";
const FRAMED_BINARY = new Uint8Array([0x6d, 0, 1, 2, 0xff, 0x70]);

/**
 * A wshub.v1 client written from docs/protocol.md: hello, pings answered,
 * `m` frames both ways, a `b` frame with non-BMP text, a binary message,
 * each message exact.
 */
async function framedSession(launch: (url: string) => string[]): Promise<void> {
  const { served, received } = recordingHub({ pingInterval: 100, pongTimeout: 5000 });
  try {
    await withClient(launch(`${served.url}?user=carol`), async (client) => {
      await client.until(
        () => served.hub.clientsOf("carol").length === 1,
        "the framed client to connect as carol",
      );
      const [carol] = served.hub.clientsOf("carol");
      assert.equal(carol.framed, true);
      const echoes = () => received.get("carol") ?? [];
      // Alone in its batch: an `m` frame. Echoed before the burst is queued.
      await served.hub.sendToUser("carol", SOLO);
      await client.until(() => echoes().length === 1, "the echo of the m frame", 5000);
      // One synchronous burst: one `b` frame.
      await Promise.all(BATCH.map((text) => served.hub.sendToUser("carol", text)));
      await served.hub.sendToUser("carol", FRAMED_BINARY);
      const expected = [SOLO, ...BATCH, FRAMED_BINARY];
      await client.until(() => echoes().length === expected.length, "every echo", 5000);
      assert.deepEqual(echoes(), expected, "the hub received exactly what it sent");
      await client.until(() => carol.rtt !== undefined, "a ping answered with its pong", 5000);
      await served.hub.sendToUser("carol", "bye");
      const result = await client.result;
      assert.equal(result.code, 0, result.transcript);
      const { events } = result;
      assert.deepEqual(events[0], { event: "open", protocol: "wshub.v1" }, result.transcript);
      const hello = events[1];
      assert.equal(hello.event, "hello", "the hello comes first");
      assert.equal(hello.v, 1);
      assert.equal(hello.user, "carol");
      assert.equal(hello.id, carol.id);
      assert.equal(hello.pingInterval, 100);
      assert.equal(hello.pongTimeout, 5000);
      assert.ok(events.some((e) => e.event === "ping"), "at least one ping seen and answered");
      assert.deepEqual(
        messagesOf(events),
        [...expected, "bye"].map(printed),
        "every message exact, in order",
      );
      const frames = events.filter((e) => e.event === "frame").map((e) => `${e.tag}${e.count}`);
      assert.deepEqual(
        frames.slice(0, 3),
        ["m1", `b${BATCH.length}`, "binary1"],
        `frames: ${frames}`,
      );
      assert.deepEqual(events.at(-1), { event: "close", code: 1000, reason: "" });
    });
  } finally {
    await served.close();
  }
}

/**
 * Graceful shutdown: `hub.close()` with 1,000 messages queued for a plain
 * client; it receives every one, in order, then 1001.
 */
async function gracefulClose(launch: Launcher): Promise<void> {
  const { served } = recordingHub({ maxBufferedBytes: 4096, drainTimeout: 10_000 });
  try {
    await withClient(launch("drain", `${served.url}?user=dave`), async (client) => {
      await client.until(
        () => served.hub.clientsOf("dave").length === 1,
        "the client to connect as dave",
      );
      const [dave] = served.hub.clientsOf("dave");
      const messages = Array.from({ length: 1000 }, (_, i) => `${i} ${"x".repeat(100)} 😀`);
      await Promise.all(messages.map((message) => served.hub.sendToUser("dave", message)));
      assert.ok(dave.queued > 0, "messages wait in the hub's queue when close() is called");
      const closing = served.hub.close();
      const result = await client.result;
      await closing;
      assert.equal(result.code, 0, result.transcript);
      assert.deepEqual(messagesOf(result.events), messages.map(printed), "every message, in order");
      assert.deepEqual(result.events.at(-1), {
        event: "close",
        code: 1001,
        reason: "server shutting down",
      });
    });
  } finally {
    await served.close();
  }
}

// --- The tests -----------------------------------------------------------------

interopTest(python, "plain, subprotocol lists, framed client, graceful close", async (t) => {
  await t.step(
    "plain: byte-exact text and binary, per-user delivery",
    () => plainEcho(pythonPlain),
  );
  await t.step(
    "subprotocol lists joined with ', '; a token is never echoed",
    () => handshakes(pythonPlain, LIST_CASES),
  );
  await t.step("framed client from docs/protocol.md", () => framedSession(pythonFramed));
  await t.step("1,000 queued messages, then 1001", () => gracefulClose(pythonPlain));
});

interopTest(go, "plain, raw subprotocol headers, framed client, graceful close", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "wshub-interop-go-" });
  try {
    const binary = await buildGo(dir);
    const launch = goClient(binary);
    await t.step("plain: byte-exact text and binary, per-user delivery", () => plainEcho(launch));
    await t.step(
      "subprotocol lists joined with ', '; a token is never echoed",
      () => handshakes(launch, LIST_CASES),
    );
    await t.step("raw headers in every RFC 7230 spacing", () => handshakes(launch, RAW_CASES));
    await t.step(
      "framed client from docs/protocol.md",
      () => framedSession((url) => launch("framed", url)),
    );
    await t.step("1,000 queued messages, then 1001", () => gracefulClose(launch));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

interopTest(node, "plain, lists joined with ',', graceful close", async (t) => {
  await t.step("plain: byte-exact text and binary, per-user delivery", () => plainEcho(nodeClient));
  await t.step(
    "['foo','wshub.v1'] connects framed; a token is never echoed",
    () => handshakes(nodeClient, LIST_CASES),
  );
  await t.step("1,000 queued messages, then 1001", () => gracefulClose(nodeClient));
});
