// End-to-end: the chat example as a subprocess, driven in headless Chromium
// (Debian's /usr/bin/chromium through playwright-core; no browser download).
// Three pages as three users: a global message reaches everyone, a private one
// only its recipient (and its sender); after the server is killed and started
// again on the same port, the pages reconnect on their own and chat again.
import assert from "node:assert/strict";
import fs from "node:fs";
// A test-only dependency, pinned here rather than in the published deno.json's imports.
// deno-lint-ignore no-import-prefix
import type { Page } from "npm:playwright-core@1.65.1";

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

const CHROMIUM = "/usr/bin/chromium";
const root = new URL("..", import.meta.url);
const hasChromium = await Deno.stat(CHROMIUM).then((info) => info.isFile, () => false);
if (!hasChromium) {
  console.log(`chat_browser_test: skipped, ${CHROMIUM} is absent (apt-get install -y chromium)`);
}

/** The chat example running as a child process. */
class ChatProcess {
  readonly child: Deno.ChildProcess;
  readonly ready: Promise<void>;
  #log = "";
  #drained: Promise<unknown>;

  constructor(port: number) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--unstable-bundle",
        "--allow-net=127.0.0.1",
        "--allow-read",
        "--allow-env",
        "examples/chat/main.ts",
        `--port=${port}`,
        "--hostname=127.0.0.1",
      ],
      cwd: root,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let listening: () => void;
    const listened = new Promise<void>((resolve) => listening = resolve);
    const drain = async (stream: ReadableStream<Uint8Array>) => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) {
        this.#log += decoder.decode(chunk, { stream: true });
        if (this.#log.includes("listening on")) listening();
      }
    };
    this.#drained = Promise.all([drain(this.child.stdout), drain(this.child.stderr)]);
    let timer: ReturnType<typeof setTimeout> | undefined;
    this.ready = Promise.race([
      listened,
      this.child.status.then((status) => {
        throw new Error(`chat server exited (${status.code}) before listening:\n${this.#log}`);
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`chat server did not start within 20 s:\n${this.#log}`)),
          20_000,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    this.ready.catch(() => {}); // observed by the test; avoid an unhandled rejection meanwhile
  }

  /** Kills the process at once (no graceful close) and waits for it to exit. */
  async kill(): Promise<void> {
    try {
      this.child.kill("SIGKILL");
    } catch { /* already gone */ }
    await this.child.status;
    await this.#drained;
  }
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

async function say(page: Page, text: string, to = ""): Promise<void> {
  if (to) await page.locator(`#to option[value="${to}"]`).first().waitFor({ state: "attached" });
  await page.selectOption("#to", to);
  await page.fill("#text", text);
  await page.press("#text", "Enter");
}

const line = (page: Page, kind: "global" | "private", text: string) =>
  page.locator(`#messages li.${kind}`, { hasText: text });

Deno.test({
  name: "chat in Chromium: global and private messages, and both survive a server restart",
  ignore: !hasChromium,
  async fn() {
    const port = freePort();
    const url = `http://127.0.0.1:${port}/`;
    let server = new ChatProcess(port);
    const profile = await Deno.makeTempDir({ prefix: "wshub-chat-chromium-" });
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
      viewport: { width: 900, height: 560 },
    });
    const pageErrors: string[] = [];
    try {
      await server.ready;
      const [alice, bob, carol] = await Promise.all(["alice", "bob", "carol"].map(async (name) => {
        const page = context.pages()[0] && name === "alice"
          ? context.pages()[0]
          : await context.newPage();
        page.setDefaultTimeout(10_000);
        page.on("pageerror", (error) => pageErrors.push(`${name}: ${error.message}`));
        await page.goto(`${url}?name=${name}`);
        await page.locator('#status[data-state="open"]').waitFor();
        return page;
      }));
      for (const page of [alice, bob, carol]) {
        await page.locator("#users li", { hasText: "carol" }).waitFor();
      }

      // A global message reaches every page, the sender's included.
      await say(alice, "hello everyone");
      for (const page of [alice, bob, carol]) {
        await line(page, "global", "hello everyone").waitFor();
      }

      // A private message reaches bob (and alice's own view), not carol.
      await say(alice, "psst, only for bob", "bob");
      await line(bob, "private", "psst, only for bob").waitFor();
      assert.match(await line(bob, "private", "psst").innerText(), /alice → you/);
      await line(alice, "private", "psst, only for bob").waitFor();
      // Anything alice sends later reaches carol later: once carol has it, the
      // private message would have arrived too if it had been sent to her.
      await say(alice, "back to everyone");
      await line(carol, "global", "back to everyone").waitFor();
      assert.equal(await carol.getByText("psst").count(), 0);

      // Kill the server hard, start it again on the same port.
      await server.kill();
      for (const page of [alice, bob]) {
        await page.locator('#status:not([data-state="open"])').waitFor();
      }
      server = new ChatProcess(port);
      await server.ready;
      for (const page of [alice, bob, carol]) {
        await page.locator('#status[data-state="open"]').waitFor({ timeout: 20_000 });
      }
      await say(bob, "we are back");
      await line(alice, "global", "we are back").waitFor();
      await line(bob, "global", "we are back").waitFor();
      await say(bob, "private again", "alice");
      await line(alice, "private", "private again").waitFor();

      await Deno.mkdir(new URL("artifacts/", root), { recursive: true });
      await alice.screenshot({ path: new URL("artifacts/chat-alice.png", root).pathname });
      await bob.screenshot({ path: new URL("artifacts/chat-bob.png", root).pathname });
      assert.deepEqual(pageErrors, []);
    } finally {
      await context.close();
      await server.kill();
      await Deno.remove(profile, { recursive: true });
    }
  },
});
