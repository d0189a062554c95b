// The documentation's links: every relative link in the README, CHANGELOG, docs/ and the
// examples' READMEs points to a file that exists, and every #anchor to a heading of that file
// (GitHub's way of naming them). The reference moved from the README to docs/; this keeps the
// links honest.

import assert from "node:assert/strict";

const root = new URL("../", import.meta.url);

async function markdownFiles(): Promise<string[]> {
  const files = ["README.md", "CHANGELOG.md"];
  for (const dir of ["docs", "examples/chat", "examples/cluster", "bench/attacks"]) {
    for await (const entry of Deno.readDir(new URL(`${dir}/`, root))) {
      if (entry.isFile && entry.name.endsWith(".md")) files.push(`${dir}/${entry.name}`);
    }
  }
  return files;
}

/** GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading.toLowerCase().replace(/`/g, "").replace(/[^\p{L}\p{N}\s_-]/gu, "").trim()
    .replace(/\s/g, "-");
}

async function anchorsOf(path: URL): Promise<Set<string>> {
  const text = await Deno.readTextFile(path);
  const anchors = new Set<string>();
  const counts = new Map<string, number>();
  for (const match of text.matchAll(/^#{1,6} (.+)$/gm)) {
    const base = slug(match[1]);
    const seen = counts.get(base) ?? 0;
    counts.set(base, seen + 1);
    anchors.add(seen === 0 ? base : `${base}-${seen}`);
  }
  return anchors;
}

Deno.test("every relative link in the documentation resolves, anchors included", async () => {
  const broken: string[] = [];
  for (const file of await markdownFiles()) {
    const here = new URL(file, root);
    const text = (await Deno.readTextFile(here)).replace(/```[\s\S]*?```/g, "");
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target)) continue; // https:, mailto:
      const [path, anchor] = target.split("#");
      const url = path === "" ? here : new URL(path, here);
      try {
        const info = await Deno.stat(url);
        if (anchor !== undefined && info.isFile && url.pathname.endsWith(".md")) {
          if (!(await anchorsOf(url)).has(anchor)) {
            broken.push(`${file}: ${target} (no such heading)`);
          }
        }
      } catch {
        broken.push(`${file}: ${target} (no such file)`);
      }
    }
  }
  assert.deepEqual(broken, []);
});
