// promtool (Debian's `prometheus` package) for the metrics tests: a test
// that needs it skips, saying so, where it is absent, except in CI
// (CI=true), where it fails: .ci/run installs it.

const IN_CI = Deno.env.get("CI") === "true";
const decoder = new TextDecoder();

/** Why promtool cannot run here, or undefined when it can. */
async function promtoolMissing(): Promise<string | undefined> {
  try {
    const out = await new Deno.Command("promtool", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return out.success ? undefined : "promtool --version failed";
  } catch (error) {
    return `no promtool on PATH (apt-get install -y prometheus): ${(error as Error).message}`;
  }
}

/** Runs `promtool check metrics` on `text`; its exit code and everything it printed. */
export async function promtoolCheck(text: string): Promise<{ code: number; output: string }> {
  const child = new Deno.Command("promtool", {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const out = await child.output();
  return {
    code: out.code,
    output: (decoder.decode(out.stdout) + decoder.decode(out.stderr)).trim(),
  };
}

const missing = await promtoolMissing();

/**
 * Checks `text` with promtool where it runs (and in CI, where it must);
 * elsewhere returns `undefined`, having said why.
 */
export async function promtoolCheckIfPresent(
  text: string,
): Promise<{ code: number; output: string } | undefined> {
  if (missing === undefined || IN_CI) return await promtoolCheck(text);
  console.log(`promtool check skipped: ${missing}`);
  return undefined;
}

/** `Deno.test` for a test that runs promtool: skipped where it is absent, failed in CI. */
export const promtoolTest: (name: string, fn: () => Promise<void>) => void = missing === undefined
  ? Deno.test
  : IN_CI
  ? (name, _fn) =>
    Deno.test(name, () => {
      throw new Error(`promtool is missing in CI: ${missing}; .ci/run installs it`);
    })
  : (name, fn) => {
    console.log(`skipped "${name}": ${missing}`);
    Deno.test({ name: `${name} (skipped: promtool is absent)`, ignore: true, fn });
  };
