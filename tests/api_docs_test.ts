// What `deno doc` shows users (issue 16): parameters with a default are optional in the generated
// documentation too — `new Hub()`, `client.close()`, `new ReplyError(message)`.

import assert from "node:assert/strict";

interface DocParam {
  name?: string;
  optional?: boolean;
  kind: string;
}

/** The params of a class's constructor or method, as `deno doc --json` reports them. */
async function paramsOf(entry: string, cls: string, method?: string): Promise<DocParam[]> {
  const { stdout, success } = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", entry],
    cwd: new URL("../", import.meta.url),
    stdout: "piped",
    stderr: "null",
  }).output();
  assert.ok(success, `deno doc ${entry}`);
  const json = JSON.parse(new TextDecoder().decode(stdout));
  for (const file of Object.values(json.nodes) as { symbols: unknown[] }[]) {
    for (const symbol of file.symbols as { name: string; declarations: { def?: unknown }[] }[]) {
      if (symbol.name !== cls) continue;
      for (const declaration of symbol.declarations) {
        const def = declaration.def as {
          constructors?: { params: DocParam[] }[];
          methods?: { name: string; functionDef: { params: DocParam[] } }[];
        };
        if (method === undefined && def?.constructors?.length) return def.constructors[0].params;
        const found = def?.methods?.find((m) => m.name === method);
        if (found !== undefined) return found.functionDef.params;
      }
    }
  }
  throw new Error(`${cls}${method ? `.${method}` : ""} not found in deno doc ${entry}`);
}

Deno.test("deno doc shows parameters with a default as optional", async () => {
  const optional = (params: DocParam[]) => params.map((p) => p.optional === true);
  assert.deepEqual(optional(await paramsOf("mod.ts", "Hub")), [true], "new Hub(options?)");
  assert.deepEqual(optional(await paramsOf("mod.ts", "ReplyError")), [false, true]);
  assert.deepEqual(
    // HubClient extends CoreClient, which declares close() (deno doc lists no inherited methods).
    optional(await paramsOf("src/client/mod.ts", "CoreClient", "close")),
    [true, true],
    "client.close(code?, reason?)",
  );
});
