// The cluster example (examples/cluster/) as a user runs it: its one command starts two chat
// processes on one port (SO_REUSEPORT) sharing a private redis-server (testing/redis.ts), and the
// announcer. Clients of the client module on different processes chat with each other, through
// the shared port and through a worker's own port; the announcer (a RedisEmitter, no hub) says the
// time to both, and the HTTP API on the shared port reaches both; a worker killed with -9 is
// started again and joins the chat. Which process serves a connection is read from the workers'
// /stats (the hello's connection id). A worker's inspector, on its own port, shows its own
// members of a channel and the cluster's presence in it, and asks for the password the
// supervisor printed. Skips only where redis-server is absent (fails in CI).

import assert from "node:assert/strict";
import { connect, type HubClient } from "../src/client/mod.ts";
import type { ChatEvent, ChatRequest } from "../examples/chat/messages.ts";
import type { AnnouncerReady, WorkerReady } from "../examples/cluster/main.ts";
import type { WorkerStats } from "../examples/cluster/worker.ts";
import type { RoomDetail } from "../src/inspector/api.ts";
import { freePort, until } from "./_helpers.ts";
import { type RedisServer, skipReason, startRedis } from "../testing/redis.ts";

const ignore = (await skipReason()) !== undefined;
const root = new URL("..", import.meta.url);

/** `deno task cluster --json` as a child process, with what it printed. */
class ClusterProcess {
  readonly child: Deno.ChildProcess;
  readonly lines: string[] = [];
  log = "";
  readonly #drained: Promise<unknown>;

  constructor(redis: string, port: number) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-run",
        "--allow-read",
        "--allow-env",
        "examples/cluster/main.ts",
        "--processes=2",
        `--redis=${redis}`,
        `--port=${port}`,
        "--hostname=127.0.0.1",
        "--worker-port=0",
        "--presence-ttl=1000",
        "--announce=300",
        "--json",
      ],
      cwd: root,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const read = async (stream: ReadableStream<Uint8Array<ArrayBuffer>>, keep: boolean) => {
      let rest = "";
      for await (const text of stream.pipeThrough(new TextDecoderStream())) {
        this.log += text;
        if (!keep) continue;
        rest += text;
        for (let i = rest.indexOf("\n"); i >= 0; i = rest.indexOf("\n")) {
          this.lines.push(rest.slice(0, i));
          rest = rest.slice(i + 1);
        }
      }
    };
    this.#drained = Promise.all([read(this.child.stdout, true), read(this.child.stderr, false)]);
  }

  /** The first line of JSON that has `key`, waiting up to `ms`. */
  async line<T>(key: string, ms: number, after = 0): Promise<T> {
    let found: string | undefined;
    await until(
      () => (found = this.lines.slice(after).find((l) => l.startsWith(`{"${key}"`))) !== undefined,
      ms,
      `the cluster's ${key} line; output so far:\n${this.log}`,
    );
    return JSON.parse(found!) as T;
  }

  /** SIGTERM, as Ctrl-C would; resolves with the exit code. */
  async stop(): Promise<number> {
    try {
      this.child.kill("SIGTERM");
    } catch { /* gone */ }
    const { code } = await this.child.status;
    await this.#drained;
    return code;
  }
}

interface ClusterInfo {
  url: string;
  workers: WorkerReady[];
  inspector: { user: string; password: string };
  announcer: AnnouncerReady;
  api: { key: string };
}

async function stats(worker: WorkerReady): Promise<WorkerStats> {
  const response = await fetch(`http://127.0.0.1:${worker.ownPort}/stats`);
  return await response.json() as WorkerStats;
}

/** Which worker (its index) serves the connection with this hello id, if any. */
async function servedBy(workers: WorkerReady[], id: string): Promise<number | undefined> {
  for (const worker of workers) {
    if ((await stats(worker)).clients.some((client) => client.id === id)) return worker.worker;
  }
}

/** A chat user: a client-module connection that records the chat lines it receives. */
function user(url: string, name: string) {
  const client: HubClient<ChatEvent, ChatRequest> = connect<ChatEvent, ChatRequest>(url, {
    // The chat's identity: a signed token from /token (any worker signs, every worker checks).
    getToken: async () => {
      const response = await fetch(new URL(`/token?name=${name}`, url.replace(/^ws/, "http")));
      return await response.text();
    },
    reconnect: { initialDelay: 100, maxDelay: 500 },
  });
  const lines: string[] = [];
  client.on("message", (event) => {
    if (event.type === "message") {
      lines.push(`${event.from}${event.to ? `→${event.to}` : ""}: ${event.text}`);
    }
  });
  const opened = () => until(() => client.state === "open", 10_000, `${name} to connect`);
  return { client, lines, opened, name };
}

Deno.test({
  name: "cluster example: one command, two processes on one port, one chat across them",
  ignore,
  async fn() {
    let redis: RedisServer | undefined;
    let cluster: ClusterProcess | undefined;
    const users: ReturnType<typeof user>[] = [];
    try {
      redis = await startRedis();
      const port = freePort();
      cluster = new ClusterProcess(redis.url, port);
      const info = await cluster.line<ClusterInfo>("url", 60_000);
      const workers = info.workers;
      assert.equal(workers.length, 2);
      assert.notEqual(workers[0].pid, workers[1].pid);
      for (const worker of workers) {
        await until(async () => (await stats(worker)).backplane === "up", 5_000, "Redis up");
      }

      // The chat page is served on the shared port by whichever process the kernel picks.
      const page = await fetch(`http://127.0.0.1:${port}/`);
      assert.match(await page.text(), /wshub chat/);
      const script = await fetch(`http://127.0.0.1:${port}/app.js`);
      assert.equal(script.status, 200);
      await script.body?.cancel();

      // Through the shared port, until two users land on different processes (each try lands on
      // either with even odds: 40 tries all on one process would mean SO_REUSEPORT is not
      // spreading connections at all).
      const shared = `ws://127.0.0.1:${port}/ws`;
      const alice = user(shared, "alice");
      users.push(alice);
      await alice.opened();
      const onA = await servedBy(workers, alice.client.hello!.id);
      assert.notEqual(onA, undefined, "alice is served by one of the workers");
      let bob: ReturnType<typeof user> | undefined;
      for (let i = 0; i < 40 && bob === undefined; i++) {
        const attempt = user(shared, "bob");
        await attempt.opened();
        if (await servedBy(workers, attempt.client.hello!.id) !== onA) bob = attempt;
        else await attempt.client.close();
      }
      assert.ok(bob, "some connection through the shared port reached the other process");
      users.push(bob);
      const a = workers[onA!];
      const b = workers[1 - onA!];
      // Through a worker's own port: deterministic.
      const carol = user(`ws://127.0.0.1:${a.ownPort}/ws`, "carol");
      users.push(carol);
      await carol.opened();
      assert.equal(await servedBy(workers, carol.client.hello!.id), a.worker);

      // A line bob says (on b) reaches alice and carol (on a); alice's private line reaches bob.
      for (const u of [alice, bob, carol]) await u.client.join("#general");
      bob.client.send({ type: "say", room: "#general", text: "hello from b" } as ChatRequest);
      for (const u of [alice, carol]) {
        await until(() => u.lines.includes("bob: hello from b"), 5_000, `${u.name} to hear bob`);
      }
      alice.client.send({ type: "whisper", to: "bob", text: "psst" });
      await until(() => bob!.lines.includes("alice→bob: psst"), 5_000, "bob to get alice's");
      // The sender sees its own line: bob is online, on the other process (presence, not counts).
      await until(() => alice.lines.includes("alice→bob: psst"), 5_000, "alice to see her line");
      assert.equal(carol.lines.some((l) => l.includes("psst")), false, "a whisper is private");

      // a's inspector: a's two members of #general, the cluster's three users in it.
      const room = `http://127.0.0.1:${a.ownPort}/inspector/api/room?name=%23general`;
      const anonymous = await fetch(room);
      await anonymous.body?.cancel();
      assert.equal(anonymous.status, 401);
      const { user: login, password } = info.inspector;
      const inspected = await fetch(room, {
        headers: { authorization: `Basic ${btoa(`${login}:${password}`)}` },
      });
      const detail = await inspected.json() as RoomDetail;
      assert.equal(detail.memberCount, 2, "alice and carol here");
      assert.deepEqual(detail.cluster, { users: 3, connections: 3 }, "with bob, on b");

      // The announcer, a process without a hub, says the time in #general through its
      // RedisEmitter: both processes' members hear it, with offsets in the channel's stream.
      assert.equal(info.announcer.redis, "up");
      for (const u of [alice, bob]) {
        await until(
          () => u.lines.some((l) => /^clock: It is \d\d:\d\d:\d\d UTC\.$/.test(l)),
          5_000,
          `${u.name} to hear the clock`,
        );
      }
      // The HTTP API on the shared port (either process) reaches both; without the key, 401.
      const post = (key: string | undefined) =>
        fetch(`http://127.0.0.1:${port}/api/publish`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            ...key === undefined ? {} : { authorization: `Bearer ${key}` },
          },
          body: JSON.stringify({
            room: "#general",
            data: { type: "message", from: "curl", text: "hello from the API", at: Date.now() },
          }),
        });
      const refused = await post(undefined);
      assert.equal(refused.status, 401);
      await refused.body?.cancel();
      const posted = await post(info.api.key);
      assert.equal(posted.status, 200);
      const { offset } = await posted.json();
      assert.ok(Number.isInteger(offset) && offset > 1, "after the hello and the clock's lines");
      for (const u of [alice, bob, carol]) {
        await until(
          () => u.lines.includes("curl: hello from the API"),
          5_000,
          `${u.name}: the API's`,
        );
      }

      // kill -9 bob's process: the supervisor starts it again; bob reconnects (to either) and
      // chats on; a user on the new process's own port hears a line said on a.
      const restartedAfter = cluster.lines.length;
      Deno.kill(b.pid, "SIGKILL");
      const { restarted } = await cluster.line<{ restarted: WorkerReady }>(
        "restarted",
        30_000,
        restartedAfter,
      );
      assert.equal(restarted.worker, b.worker);
      assert.notEqual(restarted.pid, b.pid);
      await until(async () => (await stats(restarted)).backplane === "up", 5_000, "b's Redis");
      await bob.opened();
      const dave = user(`ws://127.0.0.1:${restarted.ownPort}/ws`, "dave");
      users.push(dave);
      await dave.opened();
      await dave.client.join("#general");
      await until(() => bob!.client.rooms.has("#general"), 5_000, "bob to rejoin");
      carol.client.send({ type: "say", room: "#general", text: "still here" } as ChatRequest);
      for (const u of [alice, bob, dave]) {
        await until(() => u.lines.includes("carol: still here"), 5_000, `${u.name} to hear carol`);
      }

      // Ctrl-C (SIGTERM here): every worker stops, the supervisor exits 0.
      await Promise.all(users.map((u) => u.client.close()));
      const code = await cluster.stop();
      cluster = undefined;
      assert.equal(code, 0);
      for (const pid of [a.pid, restarted.pid, info.announcer.pid]) {
        assert.equal(await Deno.stat(`/proc/${pid}`).then(() => true, () => false), false);
      }
    } finally {
      await Promise.all(users.map((u) => u.client.close().catch(() => {})));
      if (cluster !== undefined) await cluster.stop();
      await redis?.stop();
    }
  },
});
