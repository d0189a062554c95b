// src/api/bearer.ts: the API's keys are checked when createApi is called, and a request is let in
// only with `Authorization: Bearer <one of them>`, every key of a rotation accepted, nothing else.

import assert from "node:assert/strict";
import { Bearer, checkKeys } from "../src/api/bearer.ts";

const request = (authorization?: string) =>
  new Request("http://127.0.0.1/api/info", {
    headers: authorization === undefined ? {} : { authorization },
  });

Deno.test("bearer: any key of a rotation lets a request in; nothing else does", async () => {
  const [old, next] = ["old-key-0123456789abcdef", "next-key-0123456789abcdef"];
  const bearer = new Bearer(checkKeys([old, next]));
  assert.equal(await bearer.allows(request(`Bearer ${old}`)), true);
  assert.equal(await bearer.allows(request(`Bearer ${next}`)), true);
  assert.equal(await bearer.allows(request(`bearer ${next}`)), true, "the scheme in any case");
  for (
    const header of [
      undefined,
      "",
      "Bearer",
      "Bearer ",
      `Bearer ${old}x`,
      `Bearer ${old.slice(0, -1)}`,
      `Bearer ${old} ${next}`,
      `Token ${old}`,
      `${old}`,
      `Basic ${btoa(`user:${old}`)}`,
    ]
  ) {
    assert.equal(await bearer.allows(request(header)), false, JSON.stringify(header));
  }
});

Deno.test("bearer: keys are at least 16 visible ASCII characters; one is required", () => {
  assert.deepEqual(checkKeys("0123456789abcdef"), ["0123456789abcdef"]);
  for (const bad of [undefined, null, [], ""]) {
    assert.throws(() => checkKeys(bad), /createApi needs a key|at least 16/, String(bad));
  }
  for (
    const bad of ["0123456789abcde", "0123456789 abcdef", "0123456789abcdeé", [
      "0123456789abcdef",
      7,
    ]]
  ) {
    assert.throws(() => checkKeys(bad), /at least 16 visible ASCII characters/, String(bad));
  }
});
