// End-to-end: the chat example as a subprocess, driven in headless Chromium
// (Debian's /usr/bin/chromium through playwright-core; no browser download).
// Pages as users: a channel's lines reach exactly the pages in it, the sender's
// once; leaving a channel stops them; #admins is refused and the page says so;
// a private line reaches only its recipient (and its sender); the online list
// and a channel's member list follow presence, a user with two tabs counting
// once; after the server is killed and started again on the same port, the
// pages reconnect, rejoin their channels on their own, send what was typed
// while offline, and chat again.
//
// Absence of a line is checked only behind a barrier: a later line from the
// same sender (or the server's own log) that the page did receive, so that
// the absent one would have arrived first. Nothing sleeps.
import assert from "node:assert/strict";
import fs from "node:fs";
// A test-only dependency, pinned here rather than in the published deno.json's imports.
// deno-lint-ignore no-import-prefix
import type { BrowserContext, Page } from "npm:playwright-core@1.65.1";

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
// In CI (CI=true, set by .ci/run after it installs chromium) a missing browser
// fails the test instead of skipping it, so a broken install cannot hide.
const IN_CI = Deno.env.get("CI") === "true";
if (!hasChromium && !IN_CI) {
  console.log(`chat_browser_test: skipped, ${CHROMIUM} is absent (apt-get install -y chromium)`);
}

/** The chat example running as a child process. */
class ChatProcess {
  readonly child: Deno.ChildProcess;
  readonly ready: Promise<void>;
  #log = "";
  #wake: (() => void)[] = [];
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
    const drain = async (stream: ReadableStream<Uint8Array>) => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) {
        this.#log += decoder.decode(chunk, { stream: true });
        for (const wake of this.#wake.splice(0)) wake();
      }
    };
    this.#drained = Promise.all([drain(this.child.stdout), drain(this.child.stderr)]);
    this.ready = this.logged("listening on", 1, 20_000);
    this.ready.catch(() => {}); // observed by the test; avoid an unhandled rejection meanwhile
  }

  /** How many times the server has logged `text` so far. */
  count(text: string): number {
    return this.#log.split(text).length - 1;
  }

  /** Resolves once the server has logged `text` at least `times` times, within `ms`. */
  async logged(text: string, times = 1, ms = 10_000): Promise<void> {
    const deadline = performance.now() + ms;
    let exited = false;
    this.child.status.then(() => exited = true, () => exited = true);
    while (this.count(text) < times) {
      const left = deadline - performance.now();
      if (exited) throw new Error(`chat server exited waiting for "${text}":\n${this.#log}`);
      if (left <= 0) {
        throw new Error(`chat server did not log "${text}" ×${times} in ${ms} ms:\n${this.#log}`);
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise<void>((resolve) => {
          this.#wake.push(resolve);
          timer = setTimeout(resolve, left);
        }),
        this.child.status,
      ]);
      clearTimeout(timer);
    }
  }

  /** Kills the process at once (no graceful close) and waits for it to exit. */
  async kill(): Promise<void> {
    try {
      this.child.kill("SIGKILL");
    } catch { /* already gone */ }
    await this.child.status;
    await this.#drained;
    for (const wake of this.#wake.splice(0)) wake();
  }
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/** Opens the chat as `name` and waits until it is connected and shows #general. */
async function openAs(
  context: BrowserContext,
  url: string,
  name: string,
  errors: string[],
  reuse?: Page,
): Promise<Page> {
  const page = reuse ?? await context.newPage();
  page.setDefaultTimeout(10_000);
  page.on("pageerror", (error) => errors.push(`${name}: ${error.message}`));
  await page.goto(`${url}?name=${name}`);
  await page.locator('#status[data-state="open"]').waitFor();
  await member(page, name).waitFor(); // in #general, and its member list is loaded
  return page;
}

/** Sends a line: to the channel shown, or privately to `to`. */
async function say(page: Page, text: string, to = ""): Promise<void> {
  await page.bringToFront();
  if (to) await page.locator(`#to option[value="${to}"]`).first().waitFor({ state: "attached" });
  await page.selectOption("#to", to);
  await page.fill("#text", text);
  await page.press("#text", "Enter");
}

/** A line of `room` (shown or not: only the current channel's lines are visible). */
const inRoom = (page: Page, room: string, text: string) =>
  page.locator(`#messages li.room[data-room="${room}"]`, { hasText: text });
const privately = (page: Page, text: string) =>
  page.locator("#messages li.private", { hasText: text });
/** A presence notice in `room`: "bob joined", "bob left". */
const presenceLine = (page: Page, room: string, text: string) =>
  page.locator(`#messages li.notice[data-room="${room}"]`, { hasText: text });
/** A line anywhere on the page containing `text`. */
const anyLine = (page: Page, text: string) => page.locator("#messages li", { hasText: text });
const channel = (page: Page, room: string) => page.locator(`#channels li[data-room="${room}"]`);
/** `name` in the member list of the channel shown. */
const member = (page: Page, name: string) =>
  page.locator("#members li").filter({ hasText: new RegExp(`^${name}$`) });
/** A channel's entry in the page's list, showing `count` members. */
const members = (page: Page, room: string, count: number) =>
  channel(page, room).locator(".count").filter({ hasText: new RegExp(`^${count}$`) });
const online = (page: Page, name: string) => page.locator(`#users li[data-name="${name}"]`);

/** The channels a page is in, in its list's order. */
async function channelsOf(page: Page): Promise<(string | null)[]> {
  const items = await page.locator("#channels li").all();
  return await Promise.all(items.map((li) => li.getAttribute("data-room")));
}

/**
 * Clicks like a user, in the window in front: Chromium gives the pages behind
 * it a few animation frames a second, and a click waits for two of them to
 * see its target hold still.
 */
async function click(page: Page, selector: string): Promise<void> {
  await page.bringToFront();
  await page.click(selector);
}

/** Shows `room` on `page`. */
async function view(page: Page, room: string): Promise<void> {
  await click(page, `#channels li[data-room="${room}"] > span:first-child`);
  await page.locator(`#channels li.current[data-room="${room}"]`).waitFor();
}

Deno.test({
  name: "chat in Chromium: channels, presence, private messages, and a server restart",
  ignore: !hasChromium && !IN_CI,
  async fn() {
    assert.ok(hasChromium, `${CHROMIUM} is absent, and CI=true: install chromium`);
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
      viewport: { width: 960, height: 600 },
    });
    const pageErrors: string[] = [];
    try {
      await server.ready;
      const [alice, bob, carol] = await Promise.all(
        (["alice", "bob", "carol"] as const).map((name) =>
          openAs(context, url, name, pageErrors, name === "alice" ? context.pages()[0] : undefined)
        ),
      );
      const everyone = [alice, bob, carol];
      for (const page of everyone) {
        for (const name of ["alice", "bob", "carol"]) await online(page, name).waitFor();
      }

      // #general, joined by default: a line reaches every page, the sender's once.
      await say(alice, "hello everyone");
      for (const page of everyone) await inRoom(page, "#general", "hello everyone").waitFor();

      // A private message reaches bob (and alice's own view), not carol.
      await say(alice, "psst, only for bob", "bob");
      await privately(bob, "psst, only for bob").waitFor();
      assert.match(await privately(bob, "psst").innerText(), /alice → you/);
      await privately(alice, "psst, only for bob").waitFor();
      // Anything alice sends later reaches carol later: once carol has it, the
      // private message would have arrived too if it had been sent to her.
      await say(alice, "back to everyone");
      await inRoom(carol, "#general", "back to everyone").waitFor();
      await inRoom(alice, "#general", "back to everyone").waitFor();
      assert.equal(await carol.getByText("psst").count(), 0);
      assert.equal(await inRoom(alice, "#general", "hello everyone").count(), 1, "sender: once");

      // Channels: bob joins #random and #deno with the buttons, carol by typing
      // their names; each join is confirmed by the page's own member list.
      for (const room of ["#random", "#deno"]) {
        await click(bob, `#suggestions button[data-room="${room}"]`);
        await channel(bob, room).waitFor();
        await view(bob, room);
        await member(bob, "bob").waitFor();
      }
      for (const typed of ["random", "#deno"]) {
        await carol.fill("#channel", typed);
        await carol.press("#channel", "Enter");
      }
      await view(carol, "#random");
      await member(carol, "bob").waitFor();
      await member(carol, "carol").waitFor();
      await view(bob, "#random");
      await member(bob, "carol").waitFor();
      await presenceLine(bob, "#random", "carol joined").waitFor(); // a presence event
      assert.equal(await channel(bob, "#random").locator(".count").innerText(), "2");
      assert.deepEqual(
        await channelsOf(bob),
        ["#general", "#random", "#deno"],
      );

      // A #random line reaches bob and carol, not alice (in #general only).
      await view(carol, "#general");
      await say(bob, "random thought");
      await inRoom(bob, "#random", "random thought").waitFor();
      await inRoom(carol, "#random", "random thought").waitFor({ state: "attached" });
      await carol.locator('#channels li.unread[data-room="#random"]').waitFor(); // not shown yet
      await view(bob, "#general");
      await say(bob, "after random");
      await inRoom(alice, "#general", "after random").waitFor();
      assert.equal(await anyLine(alice, "random thought").count(), 0);
      await inRoom(carol, "#general", "after random").waitFor();
      await view(carol, "#random");
      await inRoom(carol, "#random", "random thought").waitFor(); // visible now
      assert.equal(await inRoom(carol, "#general", "after random").isVisible(), false);

      // #admins is only for the user admin: alice is refused, and told.
      await click(alice, '#suggestions button[data-room="#admins"]');
      await alice.locator("#messages li.error", {
        hasText: "Could not join #admins (forbidden)",
      }).waitFor();
      await channel(alice, "#admins").waitFor({ state: "detached" });
      await alice.locator('#suggestions button[data-room="#admins"]').waitFor();
      assert.equal(await alice.locator("#status").getAttribute("data-state"), "open");
      await Deno.mkdir(new URL("artifacts/", root), { recursive: true });
      await alice.screenshot({ path: new URL("artifacts/chat-refused.png", root).pathname });

      // Leaving #deno: bob sees carol leave, and carol gets #deno's lines no more.
      await view(bob, "#deno");
      await member(bob, "carol").waitFor();
      await click(carol, '#channels li[data-room="#deno"] .leave');
      await channel(carol, "#deno").waitFor({ state: "detached" });
      await presenceLine(bob, "#deno", "carol left").waitFor();
      await member(bob, "carol").waitFor({ state: "detached" });
      await say(bob, "deno news");
      await inRoom(bob, "#deno", "deno news").waitFor();
      await view(bob, "#general");
      await say(bob, "after deno");
      await inRoom(carol, "#general", "after deno").waitFor({ state: "attached" });
      assert.equal(await anyLine(carol, "deno news").count(), 0);

      // Presence: dave in two tabs is online once, joins #general once, and
      // leaves once, when his second tab closes.
      const dave1 = await openAs(context, url, "dave", pageErrors);
      await online(alice, "dave").waitFor();
      await presenceLine(alice, "#general", "dave joined").waitFor();
      const dave2 = await openAs(context, url, "dave", pageErrors);
      await server.logged("dave connected (2 tabs)");
      await say(dave2, "two tabs");
      await inRoom(alice, "#general", "two tabs").waitFor();
      assert.equal(await online(alice, "dave").count(), 1);
      assert.equal(await presenceLine(alice, "#general", "dave joined").count(), 1);
      await online(dave2, "alice").waitFor();
      assert.equal(await online(dave2, "dave").count(), 1);

      await dave1.close();
      await server.logged("dave disconnected");
      await say(dave2, "still here"); // published after the hub let dave1 go
      await inRoom(alice, "#general", "still here").waitFor();
      assert.equal(await online(alice, "dave").count(), 1, "one tab left: still online");
      assert.equal(await presenceLine(alice, "#general", "dave left").count(), 0);

      await dave2.close();
      await online(alice, "dave").waitFor({ state: "detached" });
      await presenceLine(alice, "#general", "dave left").waitFor();
      await server.logged("dave is offline");
      await say(bob, "after dave");
      await inRoom(alice, "#general", "after dave").waitFor();
      assert.equal(await presenceLine(alice, "#general", "dave left").count(), 1);
      assert.equal(server.count("dave is online"), 1);
      assert.equal(server.count("dave is offline"), 1);

      // Kill the server hard, start it again on the same port.
      await server.kill();
      for (const page of everyone) {
        await page.locator('#status:not([data-state="open"])').waitFor();
      }
      // Typed while offline: queued, and sent after the page has asked to rejoin.
      await say(bob, "typed while offline");
      server = new ChatProcess(port);
      await server.ready;
      for (const page of everyone) {
        await page.locator('#status[data-state="open"]').waitFor({ timeout: 20_000 });
      }
      // The pages rejoined their channels by themselves: each channel's member
      // count is loaded once the page is back in it (the lists were cleared
      // when the connection dropped).
      for (const page of everyone) {
        for (const name of ["alice", "bob", "carol"]) await online(page, name).waitFor();
        await members(page, "#general", 3).waitFor();
      }
      await members(bob, "#random", 2).waitFor();
      await members(bob, "#deno", 1).waitFor();
      await members(carol, "#random", 2).waitFor();
      await inRoom(bob, "#general", "typed while offline").waitFor();
      assert.deepEqual(await channelsOf(bob), ["#general", "#random", "#deno"]);
      assert.deepEqual(await channelsOf(carol), ["#general", "#random"]);
      assert.equal(server.count("is online"), 3, "the new process saw each user come back once");
      await view(bob, "#random");
      await view(carol, "#random");
      await say(bob, "random again");
      await inRoom(carol, "#random", "random again").waitFor();
      await say(carol, "we are back");
      await inRoom(bob, "#random", "we are back").waitFor();
      await say(alice, "general again");
      for (const page of everyone) {
        await inRoom(page, "#general", "general again").waitFor({ state: "attached" });
      }
      assert.equal(await anyLine(alice, "random again").count(), 0);
      await say(bob, "private again", "alice");
      await privately(alice, "private again").waitFor();

      for (const [name, page] of [["alice", alice], ["bob", bob], ["carol", carol]] as const) {
        await page.screenshot({ path: new URL(`artifacts/chat-${name}.png`, root).pathname });
      }
      assert.deepEqual(pageErrors, []);
    } finally {
      await context.close();
      await server.kill();
      await Deno.remove(profile, { recursive: true });
    }
  },
});
