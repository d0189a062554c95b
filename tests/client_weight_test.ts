// The client's weight in a browser bundle (issue 21): an application that imports the light
// client (`@wshub/hub/client/core`) and uses neither rooms nor requests ships none of their code,
// and stays within the 10 KB gzipped. Bundled the way docs/benchmarks.md measures
// it: `deno bundle --minify --platform=browser`, then gzip at level 9.

import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";

const root = new URL("../", import.meta.url);

/** Strings found only in rooms.ts and requests.ts: their code is in a bundle that has one. */
const PART_MARKERS = [
  "left before the join was sent", // rooms.ts
  "repairing", // rooms.ts, a property name (minifiers keep those)
  "not queued while offline", // requests.ts
  "every request id", // requests.ts
  "onRequest handler failed", // requests.ts
];

/** Bundles `source` (an application module) for browsers, minified: its text and gzip -9 size. */
async function bundle(source: string): Promise<{ text: string; gzipped: number }> {
  const dir = await Deno.makeTempDir({ prefix: "wshub-weight-" });
  try {
    await Deno.writeTextFile(`${dir}/app.ts`, source);
    const { success, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["bundle", "--minify", "--platform=browser", "-o", `${dir}/app.js`, `${dir}/app.ts`],
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.ok(success, new TextDecoder().decode(stderr));
    const bytes = await Deno.readFile(`${dir}/app.js`);
    return { text: new TextDecoder().decode(bytes), gzipped: gzipSync(bytes, { level: 9 }).length };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** An application that connects, listens to messages and sends, with the client from `entry`. */
function app(entry: string): string {
  return `import { connect } from ${JSON.stringify(new URL(entry, root).href)};\n` +
    `const client = connect<string>("/ws");\n` +
    `client.on("message", (message) => console.log(message));\n` +
    `client.send("hi");\n`;
}

Deno.test("a light client's bundle holds no rooms or requests code; the full one does", async () => {
  const [light, full] = await Promise.all([
    bundle(app("src/client/core.ts")),
    bundle(app("src/client/mod.ts")),
  ]);
  for (const marker of PART_MARKERS) {
    assert.ok(full.text.includes(marker), `the full client's bundle has ${marker}`);
    assert.ok(!light.text.includes(marker), `the light client's bundle has no ${marker}`);
  }
  // The budget, which the light client meets (the full one does not: docs/benchmarks.md).
  assert.ok(light.gzipped <= 10_240, `light ${light.gzipped} B gzipped: over 10 KB`);
  assert.ok(
    light.gzipped < full.gzipped * 0.8,
    `light ${light.gzipped} B gzipped, full ${full.gzipped} B: at least a fifth less`,
  );
});
