// src/common/waiters.ts: callers waiting together, settled together, each
// free to stop waiting with a signal (and then forgotten).

import assert from "node:assert/strict";
import { Waiters } from "../src/common/waiters.ts";

Deno.test("waiters: settle() resolves every one, settle(error) rejects every one", async () => {
  const waiters = new Waiters();
  const first = waiters.wait();
  const second = waiters.wait();
  assert.equal(waiters.size, 2);
  waiters.settle();
  await Promise.all([first, second]);
  assert.equal(waiters.size, 0);
  const third = waiters.wait();
  const closed = new Error("closed");
  waiters.settle(closed);
  await assert.rejects(third, (error) => error === closed);
});

Deno.test("waiters: an aborted signal rejects with its reason and is forgotten", async () => {
  const waiters = new Waiters();
  const controller = new AbortController();
  const waiting = waiters.wait(controller.signal);
  controller.abort(new Error("gave up"));
  await assert.rejects(waiting, /gave up/);
  assert.equal(waiters.size, 0, "no reference kept");
  await assert.rejects(waiters.wait(AbortSignal.abort(new Error("already"))), /already/);
  assert.equal(waiters.size, 0);
  // A signal that never aborts does not keep a listener after the settle.
  const kept = new AbortController();
  const settled = waiters.wait(kept.signal);
  waiters.settle();
  await settled;
  kept.abort(new Error("late"));
});
