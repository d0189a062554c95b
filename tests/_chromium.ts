// Headless Chromium for the browser tests: Debian's /usr/bin/chromium driven by playwright-core
// (no browser download). Without Chromium the tests are skipped, except in CI (CI=true, set by
// .ci/run after it installs chromium), where a missing browser fails them instead, so that a
// broken install cannot hide.

import assert from "node:assert/strict";
import fs from "node:fs";
// A test-only dependency, pinned here rather than in the published deno.json's imports.
// deno-lint-ignore no-import-prefix
import type { BrowserContext, BrowserContextOptions } from "npm:playwright-core@1.65.1";

export type { BrowserContext, Page } from "npm:playwright-core@1.65.1";

// playwright-core probes `/proc/sys/fs/binfmt_misc/WSLInterop` when it loads
// (to detect WSL). Deno lets nothing short of --allow-all read under
// /proc/sys, so under the test task's permissions the probe throws NotCapable.
// Answer "not there" for exactly that path (this is not WSL) while it loads.
const WSL_PROBE = "/proc/sys/fs/binfmt_misc/WSLInterop";
const existsSync = fs.existsSync;
fs.existsSync = (path) => String(path) === WSL_PROBE ? false : existsSync(path);
// deno-lint-ignore no-import-prefix
const { chromium } = await import("npm:playwright-core@1.65.1");
fs.existsSync = existsSync;

export const CHROMIUM = "/usr/bin/chromium";
const hasChromium = await Deno.stat(CHROMIUM).then((info) => info.isFile, () => false);
const IN_CI = Deno.env.get("CI") === "true";
/** Whether browser tests are skipped: no Chromium, and not in CI. */
export const skipBrowser = !hasChromium && !IN_CI;

/** The checkout's root. */
export const root = new URL("..", import.meta.url);

/**
 * Headless Chromium with a new profile in a temporary directory; `close()` closes it and removes
 * the profile. `options` are playwright's (`httpCredentials`, `viewport`…).
 */
export async function launch(
  options: BrowserContextOptions = {},
): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  assert.ok(hasChromium, `${CHROMIUM} is absent, and CI=true: install chromium`);
  const profile = await Deno.makeTempDir({ prefix: "wshub-chromium-" });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 960, height: 600 },
    ...options,
  });
  return {
    context,
    async close() {
      await context.close();
      await Deno.remove(profile, { recursive: true });
    },
  };
}

/** The path of `artifacts/<name>` (git-ignored), its folder created. */
export async function artifact(name: string): Promise<string> {
  await Deno.mkdir(new URL("artifacts/", root), { recursive: true });
  return new URL(`artifacts/${name}`, root).pathname;
}
