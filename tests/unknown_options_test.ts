// Unknown option names (src/common/unknown_options.ts): deno run does not type check, so a typo in
// an options object must fail loudly, naming the closest option, for the hub, the client, the
// backplane and every nested or per-call options object.

import assert from "node:assert/strict";
import { Hub } from "../mod.ts";
import { connect } from "../src/client/mod.ts";
import { closestName } from "../src/common/unknown_options.ts";
import { RedisBackplane } from "../src/redis/mod.ts";
import { serveHub, TestClient, until } from "./_helpers.ts";

// deno-lint-ignore no-explicit-any
type Loose = any;

Deno.test("a misspelt hub option is refused, naming the closest one", async () => {
  const cases: [Loose, RegExp][] = [
    [{ onMesage() {} }, /Unknown hub option "onMesage"; did you mean onMessage\?/],
    [{ pingIntervall: 1000 }, /did you mean pingInterval\?/],
    [
      { rateLimit: { messagesPerSec: 5 } },
      /Unknown rateLimit option "messagesPerSec"; did you mean messagesPerSecond\?/,
    ],
    [{ history: { size: 10, tll: 1000 } }, /Unknown history option "tll"; did you mean ttl\?/],
    [{ quiteUnrelated: 1 }, /Unknown hub option "quiteUnrelated"\. Known: /],
  ];
  for (const [options, message] of cases) {
    assert.throws(() => new Hub(options), (error) => {
      assert.ok(error instanceof TypeError, String(error));
      assert.match(error.message, message);
      return true;
    });
  }
  // A history function's answer is checked when a room asks: reported, and the room keeps none.
  const errors: Error[] = [];
  const served = serveHub({
    history: () => ({ size: 1, ttl: 1000, sise: 2 }) as Loose,
    onError: (error) => void errors.push(error),
  });
  await served.hub.publish("news", "x");
  assert.equal(errors.length, 1);
  assert.match(errors[0].message, /history callback failed: Unknown history option "sise"/);
  assert.deepEqual((await served.hub.history("news")).publications, [], "nothing kept");
  await served.close();
});

Deno.test("misspelt per-call options are refused: upgrade, publish, history, client.request", async () => {
  const served = serveHub<string>();
  try {
    const hub = served.hub;
    assert.throws(
      () => hub.upgrade(new Request("http://x/"), { rooms: [], usr: "a" } as Loose),
      /Unknown upgrade option "usr"; did you mean user\?/,
    );
    assert.throws(
      () => hub.publish("r", "x", { excpet: undefined } as Loose),
      /did you mean except\?/,
    );
    assert.throws(() => hub.history("r", { limt: 1 } as Loose), /did you mean limit\?/);
    const client = await TestClient.open(served.url, "wshub.v1");
    await until(() => hub.size === 1, 2000, "registration");
    await assert.rejects(
      hub.clients()[0].request("q", { timeuot: 5 } as Loose),
      /Unknown request option "timeuot"; did you mean timeout\?/,
    );
    await client.close();
  } finally {
    await served.close();
  }
});

Deno.test("a misspelt client option is refused, nested reconnect options too", () => {
  assert.throws(
    () => connect("ws://127.0.0.1:1/", { reconect: false } as Loose),
    /Unknown connect option "reconect"; did you mean reconnect\?/,
  );
  assert.throws(
    () => connect("ws://127.0.0.1:1/", { reconnect: { maxDelays: 5 } } as Loose),
    /Unknown reconnect option "maxDelays"; did you mean maxDelay\?/,
  );
});

Deno.test("RedisBackplane: a misspelt option is named, and a missing url says which option", () => {
  assert.throws(
    () => new RedisBackplane({ uri: "redis://127.0.0.1:6379" } as Loose),
    /Unknown RedisBackplane option "uri"; did you mean url\?/,
  );
  assert.throws(
    () => new RedisBackplane({} as Loose),
    /Invalid RedisBackplane option url: missing; give the Redis server as redis:\/\/host:port/,
  );
});

Deno.test("closestName suggests only likely typos", () => {
  const names = ["onMessage", "onConnect", "pingInterval", "url"];
  assert.equal(closestName("onmessage", names), "onMessage", "case");
  assert.equal(closestName("pingIntreval", names), "pingInterval", "a swap");
  assert.equal(closestName("x", names), undefined, "too short to guess");
  assert.equal(closestName("somethingElse", names), undefined, "too far");
});
