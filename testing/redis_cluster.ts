/**
 * A real Redis Cluster for tests and benchmarks: `masters` redis-server
 * processes in cluster mode (and `replicas` replicas of each) on free
 * 127.0.0.1 ports, joined with `redis-cli --cluster create`, that a test can
 * fail over, restart or reshard under traffic. Skips and fails like
 * `testing/redis.ts` (the same redis-server). Not part of the published
 * package.
 *
 * @module
 */

import { delay } from "./async.ts";
import { freePort } from "./net.ts";
import { signal, terminate } from "./process.ts";
import { redisAvailable, redisCli, spawnRedisServer } from "./redis.ts";

/** One redis-server of a {@linkcode RedisCluster}. */
export interface ClusterNode {
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** Whether its process runs. */
  readonly running: boolean;
  /** Its process's id while it runs (for CPU accounting in benchmarks). */
  readonly pid: number | undefined;
  /** Its cluster node id. */
  id(): Promise<string>;
  /** `master` or `slave`, as it says of itself. */
  role(): Promise<string>;
  /** SIGKILLs it (no goodbye): its replica takes over after the node timeout. */
  kill(): Promise<void>;
  /** Starts it again on the same port with its cluster configuration: it rejoins. */
  restart(): Promise<void>;
}

/** A cluster started by {@linkcode startRedisCluster}. */
export interface RedisCluster {
  /** Every node's URL: what a client is given as seeds. */
  readonly seeds: string[];
  readonly nodes: ClusterNode[];
  /** The node that serves `slot` now (asked of a running node). */
  ownerOf(slot: number): Promise<ClusterNode>;
  /** The slot of `key` (CLUSTER KEYSLOT). */
  slotOf(key: string): Promise<number>;
  /**
   * Moves `slot`, keys included, from its owner to the master `to`, the way
   * `redis-cli --cluster reshard` does (IMPORTING, MIGRATING, MIGRATE, NODE).
   * With `lag` (ms), the old owner is told the new one first, and every
   * other master `lag` ms later: news that spreads slowly, as by gossip.
   */
  migrate(slot: number, to: ClusterNode, options?: { lag?: number }): Promise<void>;
  /**
   * Waits until every running node says `cluster_state:ok`, they agree on the
   * owners, every owner runs and every replica has synced.
   */
  healthy(ms?: number): Promise<void>;
  /** Stops every node and removes their directories. Idempotent. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** How {@linkcode startRedisCluster} builds the cluster. */
export interface RedisClusterOptions {
  /** Masters, at least 3 (Redis Cluster's minimum). Default 3. */
  masters?: number;
  /** Replicas per master. Default 0. */
  replicas?: number;
  /** `cluster-node-timeout` in ms: how soon a dead master is failed over. Default 1000. */
  nodeTimeout?: number;
}

/** Starts a Redis Cluster on free 127.0.0.1 ports and waits until it serves every slot. */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  if (!(await redisAvailable())) {
    throw new Error(
      "redis-server not found on PATH; the Redis Cluster tests need it (apt-get install redis-server)",
    );
  }
  const masters = options.masters ?? 3;
  const replicas = options.replicas ?? 0;
  const nodeTimeout = options.nodeTimeout ?? 1000;
  if (masters < 3) throw new RangeError("a Redis Cluster needs at least 3 masters");
  const root = await Deno.makeTempDir({ prefix: "wshub-redis-cluster-" });
  const nodes: Node[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((node) => node.stop()));
    await Deno.remove(root, { recursive: true }).catch(() => {});
  };
  try {
    for (let i = 0; i < masters * (1 + replicas); i++) {
      const dir = `${root}/${i}`;
      await Deno.mkdir(dir);
      nodes.push(await Node.start(dir, nodeTimeout));
    }
    await redisCli(
      nodes[0].port,
      "--cluster",
      "create",
      ...nodes.map((node) => `127.0.0.1:${node.port}`),
      "--cluster-replicas",
      String(replicas),
      "--cluster-yes",
    );
  } catch (error) {
    await stop();
    throw error;
  }
  let stopped = false;
  const cluster: RedisCluster = {
    seeds: nodes.map((node) => node.url),
    nodes,
    async ownerOf(slot) {
      const port = await ownerPort(nodes, slot);
      return nodes.find((node) => node.port === port)!;
    },
    async slotOf(key) {
      return Number(await redisCli(anyRunning(nodes).port, "CLUSTER", "KEYSLOT", key));
    },
    async migrate(slot, to, options = {}) {
      const from = await cluster.ownerOf(slot);
      if (from === to) return;
      const [fromId, toId] = await Promise.all([from.id(), to.id()]);
      await redisCli(to.port, "CLUSTER", "SETSLOT", String(slot), "IMPORTING", fromId);
      await redisCli(from.port, "CLUSTER", "SETSLOT", String(slot), "MIGRATING", toId);
      for (;;) {
        const keys = (await redisCli(from.port, "CLUSTER", "GETKEYSINSLOT", String(slot), "100"))
          .split("\n").filter((key) => key !== "");
        if (keys.length === 0) break;
        await redisCli(
          from.port,
          "MIGRATE",
          "127.0.0.1",
          String(to.port),
          "",
          "0",
          "5000",
          "KEYS",
          ...keys,
        );
      }
      if (options.lag !== undefined) {
        await redisCli(from.port, "CLUSTER", "SETSLOT", String(slot), "NODE", toId);
        await delay(options.lag);
      }
      for (const node of nodes) {
        if (node.running && (await node.role()) === "master") {
          await redisCli(node.port, "CLUSTER", "SETSLOT", String(slot), "NODE", toId);
        }
      }
    },
    async healthy(ms = 15_000) {
      const deadline = performance.now() + ms;
      for (;;) {
        if (await agreed(nodes)) return;
        if (performance.now() > deadline) {
          throw new Error(`the Redis Cluster was not healthy within ${ms} ms`);
        }
        await delay(100);
      }
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await stop();
    },
    [Symbol.asyncDispose]() {
      return this.stop();
    },
  };
  try {
    await cluster.healthy();
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}

class Node implements ClusterNode {
  readonly port: number;
  readonly url: string;
  readonly #dir: string;
  readonly #nodeTimeout: number;
  #child: Deno.ChildProcess | undefined;
  #id: string | undefined;

  private constructor(port: number, dir: string, nodeTimeout: number, child: Deno.ChildProcess) {
    this.port = port;
    this.url = `redis://127.0.0.1:${port}`;
    this.#dir = dir;
    this.#nodeTimeout = nodeTimeout;
    this.#child = child;
  }

  static async start(dir: string, nodeTimeout: number): Promise<Node> {
    let lastError: unknown;
    for (let attempt = 0; attempt < 5; attempt++) {
      const port = freePort();
      try {
        const child = await spawnRedisServer(port, dir, Node.#args(nodeTimeout));
        return new Node(port, dir, nodeTimeout, child);
      } catch (error) {
        lastError = error; // most likely the port (or port + 10000, the bus) was taken
      }
    }
    throw lastError;
  }

  static #args(nodeTimeout: number): string[] {
    return [
      "--cluster-enabled",
      "yes",
      "--cluster-config-file",
      "nodes.conf",
      "--cluster-node-timeout",
      String(nodeTimeout),
      // A replica's first full sync at once, not after the default 5 s wait for more replicas.
      "--repl-diskless-sync-delay",
      "0",
    ];
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  async id(): Promise<string> {
    this.#id ??= await redisCli(this.port, "CLUSTER", "MYID");
    return this.#id;
  }

  async role(): Promise<string> {
    return (await redisCli(this.port, "ROLE")).split("\n")[0];
  }

  async kill(): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    this.#child = undefined;
    signal(child, "SIGKILL");
    await child.status;
  }

  async restart(): Promise<void> {
    await this.kill();
    this.#child = await spawnRedisServer(this.port, this.#dir, Node.#args(this.#nodeTimeout));
  }

  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (child !== undefined) await terminate(child, 2_000);
  }
}

function anyRunning(nodes: readonly Node[]): Node {
  const node = nodes.find((candidate) => candidate.running);
  if (node === undefined) throw new Error("no node of the cluster is running");
  return node;
}

/** The port of the master that serves `slot`, from CLUSTER SHARDS of a running node. */
async function ownerPort(nodes: readonly Node[], slot: number): Promise<number> {
  const slots = await redisCli(anyRunning(nodes).port, "--json", "CLUSTER", "SLOTS");
  const ranges = JSON.parse(slots) as [number, number, [string, number, string]][];
  for (const [first, last, [, port]] of ranges) {
    if (slot >= first && slot <= last) return port;
  }
  throw new Error(`no node serves slot ${slot}`);
}

/**
 * Whether every running node says the cluster is ok, they all map the slots
 * alike, every slot's owner is running (a killed master has been failed
 * over) and every replica has synced with its master.
 */
async function agreed(nodes: readonly Node[]): Promise<boolean> {
  const running = new Set(nodes.filter((node) => node.running).map((node) => node.port));
  let map: string | undefined;
  for (const node of nodes) {
    if (!node.running) continue;
    try {
      const info = await redisCli(node.port, "CLUSTER", "INFO");
      if (!info.includes("cluster_state:ok")) return false;
      // A replica that has not synced yet could not take over.
      const replication = await redisCli(node.port, "INFO", "replication");
      if (replication.includes("role:slave") && !replication.includes("master_link_status:up")) {
        return false;
      }
      const slots = await redisCli(node.port, "--json", "CLUSTER", "SLOTS");
      const ranges = JSON.parse(slots) as [number, number, [string, number]][];
      if (ranges.some(([, , [, port]]) => !running.has(port))) return false;
      const owners = ranges.map(([first, last, [, port]]) => `${first}-${last}@${port}`).sort()
        .join(",");
      if (map !== undefined && owners !== map) return false;
      map = owners;
    } catch {
      return false;
    }
  }
  return map !== undefined;
}
