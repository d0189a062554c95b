import assert from "node:assert/strict";
import type { Connection } from "../src/connection.ts";
import { Registry } from "../src/registry.ts";

// The registry only reads `user` from a connection.
function connection(user: string | undefined): Connection {
  return { user } as Connection;
}

Deno.test("Registry indexes connections by user and forgets empty users", () => {
  const registry = new Registry();
  const a1 = connection("alice");
  const a2 = connection("alice");
  const anon = connection(undefined);
  registry.add(a1);
  registry.add(a2);
  registry.add(anon);
  assert.equal(registry.size, 3);
  assert.equal(registry.users, 1);
  assert.deepEqual([...registry.ofUser("alice")], [a1, a2]);
  assert.equal(registry.ofUser("bob").size, 0);
  assert.equal(registry.delete(a1), true);
  assert.equal(registry.delete(a1), false, "deleting twice is harmless");
  assert.deepEqual([...registry.ofUser("alice")], [a2]);
  registry.delete(a2);
  assert.equal(registry.users, 0, "no map entry is left behind");
  assert.deepEqual([...registry.connections()], [anon]);
  assert.equal(registry.has(anon), true);
});
