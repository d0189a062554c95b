// What every backplane promises, tested once for all of them: the same hub
// processes (tests/_cluster.ts's HubNode, separate `deno run`s of
// tests/fixtures/cluster_node.ts) and the same clients, on each bus in turn.
// tests/redis_backplane_test.ts and tests/nats_backplane_test.ts call
// `backplaneConformance` with their bus, and keep only what is their bus's own.

import assert from "node:assert/strict";
import { delay, nextEvent, TestClient, until } from "./_helpers.ts";
import { closeAll, framed, HubNode, startNodes, teardown, upAll } from "./_cluster.ts";

/** A bus server started for one test (testing/redis.ts, testing/nats.ts). */
export interface BusServer {
  /** What a hub process is given: `redis://…` or `nats://…`. */
  readonly url: string;
  /** Ends the server and removes its files. */
  stop(): Promise<void>;
  /** SIGKILLs the server; the port goes dead until `restart()`. */
  kill(): Promise<void>;
  /** Starts a fresh server (no data) on the same port. */
  restart(): Promise<void>;
}

/** Which process has members of which rooms, and of which users: what it must subscribe to. */
export interface Membership {
  readonly node: HubNode;
  readonly rooms: readonly string[];
  readonly users: readonly string[];
}

/** One backplane under test: how to start its bus and how to look inside it. */
export interface BusUnderTest<S extends BusServer> {
  /** Put before every test name: `Redis`, `NATS`. */
  readonly name: string;
  /** Registers a test, skipped (saying why) where the bus's server cannot run. */
  test(name: string, fn: () => Promise<void>): void;
  /** Starts a private server of the bus on a free port. */
  start(): Promise<S>;
  /** The backplane's own section of a node's `/stats` (`redis`, `nats`). */
  readonly statsKey: string;
  /** The bus's subscriptions of the hubs, in the form `expectedSubscriptions` gives, sorted. */
  subscriptions(server: S): Promise<string[]>;
  /**
   * What the subscriptions must be, sorted, for `nodes` with `members` (an
   * empty list: the fixed subscriptions alone).
   */
  expectedSubscriptions(nodes: readonly HubNode[], members: readonly Membership[]): string[];
  /** More checks once every member left, when the bus keeps more than subscriptions. */
  afterEmptied?(server: S, nodes: readonly HubNode[]): Promise<void>;
}

/** Registers the tests every backplane must pass, on `bus`. */
export function backplaneConformance<S extends BusServer>(bus: BusUnderTest<S>): void {
  bus.test(
    `${bus.name}: broadcast and room publishes reach every process once, in order; a user message only its user`,
    async () => {
      const server = await bus.start();
      const nodes = await startNodes(server.url, 3);
      const [a, b, c] = nodes;
      const clients: TestClient[] = [];
      const framedClients: ReturnType<typeof framed>[] = [];
      try {
        const plainB = await TestClient.open(`${b.url}?u=bob`);
        const plainC = await TestClient.open(`${c.url}?u=carol&room=lobby`);
        clients.push(plainB, plainC);
        const aliceA = framed(`${a.url}?u=alice&room=lobby`);
        const aliceC = framed(`${c.url}?u=alice`);
        framedClients.push(aliceA, aliceC);
        await until(
          () => aliceA.client.state === "open" && aliceC.client.state === "open",
          5000,
          "open",
        );
        await until(async () => (await c.stats()).connections === 2, 5000, "c's registrations");
        // Let every process's subscriptions reach the bus before publishing.
        await delay(200);

        for (let i = 0; i < 20; i++) await a.call("/broadcast", `b${i}`);
        const expected = Array.from({ length: 20 }, (_, i) => `b${i}`);
        await until(
          () => plainB.messages.length >= 20 && plainC.messages.length >= 20,
          5000,
          "broadcasts",
        );
        assert.deepEqual(plainB.messages, expected, "bob on b: each once, in order");
        assert.deepEqual(plainC.messages, expected, "carol on c");
        await until(() => aliceA.got.length >= 20 && aliceC.got.length >= 20, 5000, "alice's");
        assert.deepEqual(aliceA.got.map((m) => m.text), expected, "alice on a (local, no echo)");
        assert.deepEqual(aliceC.got.map((m) => m.text), expected);

        // A user message sent from b reaches alice on a and on c, and no one else.
        assert.equal(await b.call("/user?u=alice", "psst"), 0, "b has no connection of alice");
        await until(
          () => aliceA.got.length === 21 && aliceC.got.length === 21,
          5000,
          "alice's message",
        );
        assert.equal(aliceA.got[20].text, "psst");
        assert.equal(aliceC.got[20].text, "psst");

        // A room publish from b reaches the lobby's members on a and c; except on the publisher's own.
        await b.call("/publish?room=lobby", "to the lobby");
        const ids = await a.call<{ id: string; user: string }[]>("/ids");
        await a.call(`/publish?room=lobby&except=${ids[0].id}`, "not to alice on a");
        await until(() => plainC.messages.length === 22, 5000, "carol's room messages");
        assert.deepEqual(plainC.messages.slice(20), ["to the lobby", "not to alice on a"]);
        await until(() => aliceA.got.length === 22, 5000, "alice's room message");
        assert.deepEqual(aliceA.got[21], { text: "to the lobby", room: "lobby" });
        await delay(100);
        assert.equal(aliceA.got.length, 22, "except: alice on a was not sent the second");
        assert.equal(plainB.messages.length, 20, "bob is in no room and is not alice");
        assert.equal(aliceC.got.length, 21, "alice on c is not in the lobby");
        // Each backplane measures its round trip through the bus on its own pings (every 500 ms
        // here), and none of what crossed was malformed or dropped.
        for (const node of nodes) {
          const stats = (await node.call<Record<string, Record<string, number | undefined>>>(
            "/stats",
          ))[bus.statsKey];
          assert.ok(
            typeof stats.roundTrip === "number" && stats.roundTrip >= 0 &&
              stats.roundTrip < 1000,
            `roundTrip ${stats.roundTrip}`,
          );
          assert.equal(stats.malformed ?? 0, 0, "malformed");
          assert.equal(stats.dropped ?? 0, 0, "dropped");
        }
      } finally {
        await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
        await closeAll(framedClients);
        await teardown(server, nodes);
      }
    },
  );

  bus.test(
    `${bus.name}: a process subscribes only while it has members; emptied rooms leave only the fixed subscriptions`,
    async () => {
      const server = await bus.start();
      const nodes = await startNodes(server.url, 2);
      const [a, b] = nodes;
      const members: ReturnType<typeof framed>[] = [];
      try {
        // Dots and digits in room names: each bus has its own rules for channel names.
        for (let i = 0; i < 3; i++) members.push(framed(`${a.url}?u=u${i}&room=room.${i}`));
        members.push(framed(`${b.url}?u=u9&room=room.0`));
        await until(() => members.every((m) => m.client.rooms.size === 1), 5000, "joins");
        await delay(100);
        assert.deepEqual(
          await bus.subscriptions(server),
          bus.expectedSubscriptions(nodes, [
            { node: a, rooms: ["room.0", "room.1", "room.2"], users: ["u0", "u1", "u2"] },
            { node: b, rooms: ["room.0"], users: ["u9"] },
          ]),
        );
        await closeAll(members);
        const fixed = bus.expectedSubscriptions(nodes, []).join();
        await until(
          async () => (await bus.subscriptions(server)).join() === fixed,
          5000,
          "unsubscribes",
        );
        await bus.afterEmptied?.(server, nodes);
      } finally {
        await closeAll(members);
        await teardown(server, nodes);
      }
    },
  );

  bus.test(
    `${bus.name}: a hub started while the bus is down serves its own clients, and joins the others once it is up`,
    async () => {
      const server = await bus.start();
      await server.kill();
      const nodes = [await HubNode.start(server.url), await HubNode.start(server.url)];
      const [a, b] = nodes;
      const clients: TestClient[] = [];
      try {
        assert.notEqual((await a.stats()).backplane, "up");
        const onA = await TestClient.open(a.url);
        const onB = await TestClient.open(b.url);
        clients.push(onA, onB);
        assert.equal(await a.call("/broadcast", "local only"), 1);
        await until(() => onA.messages.includes("local only"), 2000, "local delivery, no bus");
        await server.restart();
        await upAll(nodes);
        await delay(200);
        await a.call("/broadcast", "across");
        await until(() => onB.messages.includes("across"), 3000, "cross-process delivery");
        assert.equal(onB.messages.includes("local only"), false);
      } finally {
        await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
        await teardown(server, nodes);
      }
    },
  );

  bus.test(
    `${bus.name}: disconnectUser on process A closes the user's connections on A and B (4003), returns A's count, leaves others`,
    async () => {
      const server = await bus.start();
      const nodes = await startNodes(server.url, 2);
      const [a, b] = nodes;
      const clients = [
        framed(`${a.url}?u=mallory`),
        framed(`${a.url}?u=mallory`),
        framed(`${b.url}?u=mallory`),
        framed(`${a.url}?u=alice`),
        framed(`${b.url}?u=bob`),
      ];
      try {
        await Promise.all(clients.map(({ client }) => nextEvent(client, "open", undefined, 5_000)));
        const closes = clients.slice(0, 3).map(({ client }) => nextEvent(client, "close"));
        const started = performance.now();
        assert.equal(await a.call("/disconnect?u=mallory", ""), 2, "A's own count");
        const infos = await Promise.all(closes);
        const elapsed = performance.now() - started;
        for (const info of infos) {
          assert.deepEqual(info, { code: 4003, reason: "access revoked", reconnecting: false });
        }
        console.log(`revoked on both processes in ${elapsed.toFixed(1)} ms`);
        assert.ok(elapsed < 2_000, "a bus round trip, not a heartbeat or a TTL");
        await delay(100);
        assert.equal(clients[3].client.state, "open");
        assert.equal(clients[4].client.state, "open");
        const [statsA, statsB] = await Promise.all([a.stats(), b.stats()]);
        assert.equal(statsA.connections, 1);
        assert.equal(statsB.connections, 1);
        assert.equal((statsA.credentials as { revoked: number }).revoked, 2);
        assert.equal((statsB.credentials as { revoked: number }).revoked, 1);
      } finally {
        await closeAll(clients);
        await teardown(server, nodes);
      }
    },
  );
}
