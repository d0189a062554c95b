import assert from "node:assert/strict";
import { EventQueue, QueueClosedError } from "../src/server/event_queue.ts";
import { delay } from "../testing/async.ts";

Deno.test("EventQueue yields events in the order they were pushed", async () => {
  const queue = new EventQueue<number>();
  for (let i = 0; i < 3000; i++) queue.push(i);
  queue.close();
  const seen: number[] = [];
  for await (const item of queue) seen.push(item);
  assert.deepEqual(seen, Array.from({ length: 3000 }, (_, i) => i));
});

Deno.test("EventQueue wakes a waiting consumer and ends after close", async () => {
  const queue = new EventQueue<string>();
  const seen: string[] = [];
  const consumer = (async () => {
    for await (const item of queue) seen.push(item);
  })();
  await Promise.resolve();
  queue.push("a");
  await delay(1);
  queue.push("b");
  queue.push("c");
  queue.close();
  await consumer;
  assert.deepEqual(seen, ["a", "b", "c"]);
  assert.equal(queue.size, 0);
});

Deno.test("EventQueue refuses pushes after close and a second consumer", async () => {
  const queue = new EventQueue<number>();
  const pending = queue.next();
  await assert.rejects(queue.next(), /single consumer/);
  queue.close();
  assert.deepEqual(await pending, { value: undefined, done: true });
  assert.throws(() => queue.push(1), QueueClosedError);
  assert.equal(queue.closed, true);
});

Deno.test("EventQueue compacts while interleaving pushes and takes", async () => {
  const queue = new EventQueue<number>();
  let expected = 0;
  for (let round = 0; round < 50; round++) {
    for (let i = 0; i < 100; i++) queue.push(round * 100 + i);
    for (let i = 0; i < 60; i++) {
      const { value } = await queue.next();
      assert.equal(value, expected++);
    }
  }
  assert.equal(queue.size, 50 * 40);
  await queue.return();
  assert.equal(queue.size, 0);
});
