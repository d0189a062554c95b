/**
 * Checks that no module under `src/` is part of an import cycle, type-only
 * imports included, and that each folder keeps to its place: the server
 * never imports the client, the client never imports the server,
 * `src/protocol/` imports neither, `src/common/` imports nothing else, and
 * nothing imports `src/inspector/` (which reads the server, not the client),
 * and neither `src/server/` nor `src/protocol/` imports `src/api/` (which
 * sits on the hub).
 *
 *     deno run --allow-read --allow-run tools/import_cycles.ts
 *
 * Exits 1 and prints each cycle (or forbidden edge) when there is one. It
 * reads the module graph from `deno info --json` of each entry point in
 * deno.json's `exports`. `deno task check` runs it.
 *
 * @module
 */

const root = new URL("../", import.meta.url);
const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", root))) as {
  exports: Record<string, string>;
};
const entries = Object.values(config.exports);

interface InfoModule {
  specifier: string;
  dependencies?: {
    code?: { specifier: string };
    type?: { specifier: string };
  }[];
}

const documents: { modules: InfoModule[] }[] = [];
for (const entry of entries) {
  const { stdout, success, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!success) {
    console.error(new TextDecoder().decode(stderr));
    Deno.exit(2);
  }
  documents.push(JSON.parse(new TextDecoder().decode(stdout)));
}

const src = new URL("src/", root).href;
const name = (specifier: string) => specifier.slice(root.href.length);
const graph = new Map<string, Set<string>>();
for (const { modules } of documents) {
  for (const module of modules) {
    if (!module.specifier.startsWith(src)) continue;
    const edges = graph.get(name(module.specifier)) ?? new Set<string>();
    graph.set(name(module.specifier), edges);
    for (const dependency of module.dependencies ?? []) {
      for (const target of [dependency.code?.specifier, dependency.type?.specifier]) {
        if (target?.startsWith(src)) edges.add(name(target));
      }
    }
  }
}

const problems: string[] = [];

// Folders that must not import each other.
const forbidden: [string, string][] = [
  ["src/server/", "src/client/"],
  ["src/client/", "src/server/"],
  ["src/protocol/", "src/server/"],
  ["src/protocol/", "src/client/"],
  // src/common/ is what the server and the client share besides the wire format: it imports
  // nothing else of the project.
  ["src/common/", "src/server/"],
  ["src/common/", "src/client/"],
  ["src/common/", "src/protocol/"],
  ["src/common/", "src/redis/"],
  // The inspector reads the server (src/server/inspection.ts); nothing reads the inspector.
  ["src/server/", "src/inspector/"],
  ["src/protocol/", "src/inspector/"],
  ["src/common/", "src/inspector/"],
  ["src/client/", "src/inspector/"],
  ["src/inspector/", "src/client/"],
  ["src/common/", "src/api/"],
  // src/api/ (createApi) sits on the hub: the hub and the wire format never import it.
  ["src/server/", "src/api/"],
  ["src/protocol/", "src/api/"],
  ["src/api/", "src/client/"],
];
for (const [from, edges] of graph) {
  for (const to of edges) {
    for (const [a, b] of forbidden) {
      if (from.startsWith(a) && to.startsWith(b)) problems.push(`${from} imports ${to}`);
    }
  }
}

// Strongly connected components (Tarjan): any with more than one module, or a self-import, is a cycle.
let index = 0;
const indices = new Map<string, number>();
const low = new Map<string, number>();
const stack: string[] = [];
const onStack = new Set<string>();
function connect(v: string): void {
  indices.set(v, index);
  low.set(v, index++);
  stack.push(v);
  onStack.add(v);
  for (const w of graph.get(v) ?? []) {
    if (!indices.has(w)) {
      connect(w);
      low.set(v, Math.min(low.get(v)!, low.get(w)!));
    } else if (onStack.has(w)) {
      low.set(v, Math.min(low.get(v)!, indices.get(w)!));
    }
  }
  if (low.get(v) === indices.get(v)) {
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || graph.get(v)?.has(v)) {
      const members = new Set(component);
      const edges = component.flatMap((a) =>
        [...graph.get(a)!].filter((b) => members.has(b)).map((b) => `  ${a} -> ${b}`)
      );
      problems.push(
        `a cycle of ${component.length} modules:\n${edges.sort().join("\n")}`,
      );
    }
  }
}
for (const v of graph.keys()) if (!indices.has(v)) connect(v);

if (problems.length > 0) {
  console.error(`import problems under src/ (type imports count):\n${problems.join("\n")}`);
  Deno.exit(1);
}
console.log(`no import cycle among the ${graph.size} modules under src/`);
