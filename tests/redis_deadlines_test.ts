// src/redis/deadlines.ts: answer deadlines for calls in flight with one timer. A call answered in
// time gets its answer; one that is not gets the expiry error (and its late answer is ignored);
// answered calls are forgotten at once, and nothing is left behind (no timer, no entry).

import assert from "node:assert/strict";
import { Deadlines } from "../src/redis/deadlines.ts";
import { delay } from "./_helpers.ts";

Deno.test("deadlines: answers in time pass through; unanswered calls expire, in order", async () => {
  const deadlines = new Deadlines(50);
  const expired = (name: string) => () => new Error(`${name} expired`);
  const answered = deadlines.track(Promise.resolve("a"), expired("a"));
  const failed = deadlines.track(Promise.reject(new Error("refused")), expired("b"));
  assert.equal(await answered, "a");
  await assert.rejects(failed, /refused/);
  assert.equal(deadlines.size, 0, "settled calls are forgotten");

  const late = Promise.withResolvers<string>();
  const never = new Promise<string>(() => {});
  const first = deadlines.track(late.promise, expired("late"));
  const second = deadlines.track(never, expired("never"));
  const third = deadlines.track(Promise.resolve("in time"), expired("third"));
  assert.equal(await third, "in time");
  assert.equal(deadlines.size, 3, "answered behind an unanswered one: kept until it is");
  const order: string[] = [];
  await Promise.all([
    first.catch((error) => order.push(error.message)),
    second.catch((error) => order.push(error.message)),
  ]);
  assert.deepEqual(order, ["late expired", "never expired"]);
  late.resolve("too late");
  await delay(0);
  assert.equal(deadlines.size, 0);
});

Deno.test("deadlines: clear() stops the timer; calls then settle as their calls do", async () => {
  const deadlines = new Deadlines(10_000);
  const call = Promise.withResolvers<number>();
  const tracked = deadlines.track(call.promise, () => new Error("expired"));
  deadlines.clear(); // the sanitizer fails the test if a timer were left
  assert.equal(deadlines.size, 1);
  call.resolve(7);
  assert.equal(await tracked, 7);
  assert.equal(deadlines.size, 0);
  const after = deadlines.track(Promise.resolve(8), () => new Error("expired"));
  assert.equal(await after, 8, "no timer is set again");
});
