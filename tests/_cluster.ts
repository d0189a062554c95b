// Helpers for the Redis backplane tests: hub processes of a cluster
// (separate `deno run`s of tests/fixtures/cluster_node.ts) sharing one real
// redis-server (testing/redis.ts), driven over HTTP, and framed clients that
// record what they get.

import { connect, type HubClient, type MessageMeta } from "../src/client/mod.ts";
import type { PresenceDiff, PresenceEvent } from "../mod.ts";
import { eventsOf, until } from "./_helpers.ts";
import { skipReason, startRedis } from "../testing/redis.ts";
import { firstLine } from "../testing/process.ts";

const ignore = (await skipReason()) !== undefined;

/** How a cluster node runs (see tests/fixtures/cluster_node.ts). */
export interface HubNodeOptions {
  /** RedisBackplane's presenceTtl (default 1500 ms here). */
  presenceTtl?: number;
  /** The port (default: any free one). */
  port?: number;
  /** Room history for every room (or those `historyRooms` starts), kept in Redis. */
  history?: { size: number; ttl: number };
  /** Only rooms whose name starts with this keep `history`. */
  historyRooms?: string;
  /** Listen with SO_REUSEPORT, to share a port with other nodes. */
  reusePort?: boolean;
  /** The hub's presenceWindow (default 0 here: every change told at once). */
  presenceWindow?: number;
  /** Serve createApi's HTTP API under /api (on the control port too) with this key. */
  apiKey?: string;
}

/** One hub process of the cluster, driven over HTTP. */
export class HubNode {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  /** The port its clients connect to (shared with other nodes with `reusePort`). */
  readonly port: number;
  /** The port of its control routes: its own. */
  readonly control: number;
  readonly id: string;
  #alive = true;

  private constructor(child: Deno.ChildProcess, port: number, control: number, id: string) {
    this.#child = child;
    this.#writer = child.stdin.getWriter();
    this.port = port;
    this.control = control;
    this.id = id;
    void child.status.then(() => this.#alive = false);
  }

  /**
   * Starts a node on `redis`, or on NATS when `redis` is a nats:// URL, or
   * on a Redis Cluster when it is a list of seed URLs.
   */
  static async start(redis: string | string[], options: HubNodeOptions = {}): Promise<HubNode> {
    const script = new URL("./fixtures/cluster_node.ts", import.meta.url).pathname;
    const bus = Array.isArray(redis)
      ? { redisCluster: redis }
      : redis.startsWith("nats://")
      ? { nats: redis }
      : { redis };
    const config = { ...bus, presenceTtl: 1500, ...options };
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--quiet", "--unstable-net", script, JSON.stringify(config)],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const line = await firstLine(child, "the node");
    const { port: listening, control, node } = JSON.parse(line);
    return new HubNode(child, listening, control, node);
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  get alive(): boolean {
    return this.#alive;
  }

  async call<R = unknown>(path: string, body?: string): Promise<R> {
    const response = await fetch(`http://127.0.0.1:${this.control}${path}`, {
      method: body === undefined ? "GET" : "POST",
      body,
    });
    return await response.json() as R;
  }

  stats(): Promise<Record<string, unknown> & { backplane: string; connections: number }> {
    return this.call("/stats");
  }

  /** Graceful: closing stdin makes the node close its hub (presence removed at once). */
  async stop(): Promise<void> {
    await this.#writer.close().catch(() => {});
    const timer = setTimeout(() => this.kill(), 10_000);
    await this.#child.status;
    clearTimeout(timer);
  }

  /** kill -9: no goodbye. */
  kill(): void {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // gone
    }
  }

  async reaped(): Promise<void> {
    await this.#child.status;
    await this.#writer.close().catch(() => {});
  }
}

/**
 * A framed client-module client that records messages with their room, and
 * presence: each diff, and each user's change in it as an event.
 */
export function framed(url: string) {
  const client: HubClient<string> = connect<string>(url);
  const got: { text: string; room?: string }[] = [];
  const presence: PresenceEvent[] = [];
  const diffs: PresenceDiff[] = [];
  client.on("message", (text, meta: MessageMeta) => got.push({ text, room: meta.room }));
  client.on("presence", (diff) => {
    diffs.push(diff);
    presence.push(...eventsOf(diff));
  });
  return { client, got, presence, diffs };
}

/** Closes every client of {@linkcode framed}, whatever state it is in. */
export async function closeAll(clients: ReturnType<typeof framed>[]): Promise<void> {
  await Promise.all(clients.map(({ client }) => client.close().catch(() => undefined)));
}

/** Starts `count` hub processes on the bus at `url` and waits until each one's backplane is up. */
export async function startNodes(
  url: string | string[],
  count: number,
  options: HubNodeOptions = {},
): Promise<HubNode[]> {
  const nodes: HubNode[] = [];
  for (let i = 0; i < count; i++) nodes.push(await HubNode.start(url, options));
  await upAll(nodes);
  return nodes;
}

/** Waits until every node's backplane says it is up. */
export async function upAll(nodes: readonly HubNode[]): Promise<void> {
  for (const node of nodes) {
    await until(async () => (await node.stats()).backplane === "up", 5000, "the backplane");
  }
}

/** A redis-server and `count` hub processes on it, every backplane up. */
export async function cluster(count: number, options: HubNodeOptions = {}) {
  const redis = await startRedis();
  const nodes = await startNodes(redis.url, count, options);
  return { redis, nodes };
}

/** Stops the nodes still alive (reaps the killed ones), then the bus's server. */
export async function teardown(
  server: { stop(): Promise<void> },
  nodes: readonly HubNode[],
): Promise<void> {
  await Promise.all(nodes.map((node) => node.alive ? node.stop() : node.reaped()));
  await server.stop();
}

export function redisTest(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, ignore, fn });
}
