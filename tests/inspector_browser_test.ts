// The inspector in headless Chromium (see tests/_chromium.ts): without credentials the browser gets
// 401 and nothing else; logged in (HTTP Basic), the overview's numbers are hub.stats()'s, a client
// connecting and leaving shows in the event log, a stalled client is found by sorting the client
// table by queue depth and closed from the page (two clicks), and it is gone from the table and
// the hub. A user id made of HTML shows as text and runs nothing; the page logs no error (a CSP
// violation would be one). Screenshots go to artifacts/inspector-*.png.
//
// At 10,000 connections (held by a child process, tests/_crowd.ts): the page loads with the first
// 50 clients of 10,000, and what it downloads stays small; the load time and the sizes are printed.

import assert from "node:assert/strict";
import { connect } from "../src/client/mod.ts";
import { artifact, launch, type Page, root, skipBrowser } from "./_chromium.ts";
import { TestClient, until } from "./_helpers.ts";
import { PASSWORD, serveInspected, stalledPeer, Stream, USER } from "./_inspector.ts";

if (skipBrowser) {
  console.log("inspector_browser_test: skipped, /usr/bin/chromium is absent");
}

/** The page's errors and console errors, to assert there are none. */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(`console: ${message.text()}`);
  });
  return errors;
}

/** The overview's figure `name` as a number. */
async function stat(page: Page, name: string): Promise<number> {
  const text = await page.locator(`[data-stat="${name}"]`).first().innerText();
  return Number(text.replaceAll(",", ""));
}

/** Clicks a two-step button: once to arm it, once to act. */
async function clickTwice(page: Page, selector: string): Promise<void> {
  await page.click(selector);
  await page.locator(`${selector}.armed`).waitFor();
  await page.click(selector);
}

Deno.test({
  name: "inspector in Chromium: log in, overview = hub.stats(), a client comes and goes, " +
    "a stalled client found by queue depth and closed from the page",
  ignore: skipBrowser,
  async fn() {
    const served = serveInspected(
      { writeTimeout: 60_000, sendQueueLimit: 1_000_000, maxBufferedBytes: 64 * 1024 },
      { interval: 250 },
    );
    const { hub } = served;
    const url = `${served.base}/inspector/`;
    const alice = connect(`${served.ws}?u=alice`);
    const bobs = [connect(`${served.ws}?u=bob`), connect(`${served.ws}?u=bob`)];
    const carol = await TestClient.open(`${served.ws}?u=carol`);
    const html = "<img src=x onerror=\"document.title='pwned'\">";
    const mallory = await TestClient.open(`${served.ws}?u=${encodeURIComponent(html)}`);
    await until(() => hub.size === 5, 3000, "five registrations");
    await Promise.all([alice.join("lobby"), bobs[0].join("lobby"), bobs[1].join("news")]);

    // Without credentials, or with wrong ones: 401, on the page and on its live stream. (Headless,
    // without a login prompt, a navigation without credentials fails; with wrong ones, it shows
    // the 401.)
    for (const credentials of [undefined, { username: USER, password: "wrong" }]) {
      const anonymous = await launch({ httpCredentials: credentials });
      try {
        const page = await anonymous.context.newPage();
        const shown = await page.goto(url).then(
          async (response) => `${response?.status()} ${await page.locator("body").innerText()}`,
          (error: Error) => error.message,
        );
        assert.match(shown, /^401 Unauthorized$|ERR_INVALID_AUTH_CREDENTIALS/);
        for (const path of ["", "app.js", "api/stream", "api/clients"]) {
          const response = await anonymous.context.request.get(`${url}${path}`);
          assert.equal(response.status(), 401, path);
          assert.equal(await response.text(), "Unauthorized");
        }
      } finally {
        await anonymous.close();
      }
    }

    const browser = await launch({
      httpCredentials: { username: USER, password: PASSWORD },
      viewport: { width: 1280, height: 800 },
    });
    try {
      const page = browser.context.pages()[0] ?? await browser.context.newPage();
      page.setDefaultTimeout(10_000);
      const errors = watchErrors(page);
      const response = await page.goto(url);
      assert.equal(response?.status(), 200);
      await page.locator('#status[data-state="live"]').waitFor();

      // The overview: the numbers of hub.stats().
      const stats = hub.stats();
      await page.locator('[data-stat="connections"]', { hasText: String(stats.connections) })
        .waitFor();
      assert.equal(await stat(page, "connections"), stats.connections);
      assert.equal(await stat(page, "framed"), stats.framedConnections);
      assert.equal(await stat(page, "plain"), stats.connections - stats.framedConnections);
      assert.equal(await stat(page, "users"), stats.users);
      assert.equal(await stat(page, "rooms"), stats.rooms);
      await page.locator('svg[data-chart="connections"] polyline').waitFor({ state: "attached" });

      // A client connects and leaves: the event log shows both, with the close code.
      await page.click('a[data-tab="events"]');
      await page.locator('#event-log tr[data-type="watch"]').waitFor();
      const dave = await TestClient.open(`${served.ws}?u=dave`);
      await page.locator('#event-log tr[data-type="connect"][data-user="dave"]').waitFor();
      await dave.close(1000, "bye");
      await page.locator('#event-log tr[data-type="disconnect"][data-user="dave"]', {
        hasText: "code 1000 “bye”, by the peer",
      }).waitFor();
      await page.screenshot({ path: await artifact("inspector-events.png") });

      // A stalled client: it reads nothing while the hub sends it 20 MB.
      const stalled = await stalledPeer(served.port, "stalled");
      await until(() => hub.size === 6, 3000, "the stalled client");
      const chunk = "x".repeat(1024);
      for (let i = 0; i < 20_000; i++) void hub.sendToUser("stalled", chunk);
      await hub.sendToUser("stalled", chunk);
      const queued = hub.clientsOf("stalled")[0].queued;
      assert.ok(queued > 1000, `its queue: ${queued}`);

      // Found by sorting the client table by queue depth: first, with its queue shown.
      await page.click('a[data-tab="clients"]');
      await page.locator("#client-table tbody tr").first().waitFor();
      await page.selectOption('#client-filter [name="sort"]', "queued");
      const first = page.locator("#client-table tbody tr").first();
      await page.locator('#client-table tbody tr:first-child[data-user="stalled"]').waitFor();
      const shownQueue = Number((await first.locator('[data-col="queued"]').innerText())
        .replaceAll(",", ""));
      assert.ok(shownQueue > 1000, `shown queue ${shownQueue}`);
      assert.equal(await first.locator('[data-col="address"]').innerText(), "127.0.0.1");
      assert.equal(await first.locator('[data-col="kind"]').innerText(), "plain");
      // The HTML user id is text, not markup; nothing ran.
      await page.getByText(html, { exact: true }).first().waitFor();
      assert.equal(await page.title(), "wshub inspector");
      await page.screenshot({ path: await artifact("inspector-clients.png"), fullPage: true });

      // Closed from the page: gone from the table, and from the hub.
      await clickTwice(
        page,
        '#client-table tbody tr[data-user="stalled"] button[data-action="close"]',
      );
      await page.locator('#client-table tbody tr[data-user="stalled"]').waitFor({
        state: "detached",
      });
      assert.equal(hub.clientsOf("stalled").length, 0);
      await page.locator("#notice", { hasText: "Close: done" }).waitFor();
      stalled.close();

      // A room in detail.
      await page.click('a[data-tab="rooms"]');
      await page.click('#room-table button[data-room="lobby"]');
      await page.locator('#room-detail[data-room="lobby"] #room-members tbody tr').nth(1)
        .waitFor();
      await page.screenshot({ path: await artifact("inspector-rooms.png"), fullPage: true });

      await page.click('a[data-tab="overview"]');
      await page.locator('#close-codes tr[data-code="1000"]').waitFor();
      await page.screenshot({ path: await artifact("inspector-overview.png"), fullPage: true });
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
    await Promise.all([alice.close(), ...bobs.map((bob) => bob.close())]);
    await Promise.all([carol.close(), mallory.close()]);
    await served.close();
  },
});

Deno.test({
  name: "inspector in Chromium at 10,000 connections: first page of 50 rows, a bounded payload",
  ignore: skipBrowser,
  async fn() {
    const COUNT = 10_000;
    const served = serveInspected({
      idleTimeout: 300_000, // the crowd reads nothing, pongs included
      admissionRate: 1_000_000, // the crowd arrives at once on purpose: no admission pace
      onConnect(client, hub) {
        void hub.join(client, `room${Number(client.user!.slice(4)) % 500}`);
      },
    });
    const { hub } = served;
    const crowd = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-net=127.0.0.1", "tests/_crowd.ts", String(served.port), String(COUNT)],
      cwd: root,
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const stdout = crowd.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const opened = performance.now();
    const first = await stdout.read();
    assert.equal(first.value?.trim(), `ready ${COUNT}`);
    await until(() => hub.size === COUNT, 30_000, "10,000 registrations");
    const openedIn = performance.now() - opened;

    // The first event of the live stream: what a page gets first, whatever the hub's size.
    const stream = new Stream(await served.get("/inspector/api/stream"));
    const helloBytes = JSON.stringify(await stream.hello()).length;
    await stream.cancel();
    const all = await served.get("/inspector/api/clients?limit=100000&sort=queued");
    const widest = await all.json();
    assert.equal(widest.rows.length, 200, "a page never has more than 200 rows");
    assert.equal(widest.total, COUNT);

    const browser = await launch({
      httpCredentials: { username: USER, password: PASSWORD },
      viewport: { width: 1280, height: 800 },
    });
    try {
      const page = browser.context.pages()[0] ?? await browser.context.newPage();
      page.setDefaultTimeout(20_000);
      const errors = watchErrors(page);
      const start = performance.now();
      await page.goto(`${served.base}/inspector/#clients`);
      await page.locator("#clients .pager span", { hasText: "1–50 of 10,000" }).waitFor();
      await page.locator('[data-stat="connections"]', { hasText: "10,000" }).waitFor({
        state: "attached", // on the overview, hidden behind the client table
      });
      const loadMs = performance.now() - start;
      assert.equal(await page.locator("#client-table tbody tr").count(), 50);
      const resources = await page.evaluate(() =>
        performance.getEntriesByType("resource").concat(performance.getEntriesByType("navigation"))
          .map((entry) => {
            // A PerformanceResourceTiming (Deno's types have no such type, only the browser's).
            const timing = entry as unknown as { name: string; encodedBodySize: number };
            return { name: timing.name, bytes: timing.encodedBodySize };
          })
      );
      const finished = resources.filter((entry) => !entry.name.endsWith("/api/stream"));
      const total = finished.reduce((sum, entry) => sum + entry.bytes, 0);
      console.log(
        `inspector at ${COUNT} connections (opened in ${Math.round(openedIn)} ms): page ready in ` +
          `${Math.round(loadMs)} ms; ${
            finished.map((entry) =>
              `${new URL(entry.name).pathname.split("/").pop() || "page"} ${entry.bytes} B`
            ).join(", ")
          }; total ${total} B, plus the stream's hello ${helloBytes} B`,
      );
      assert.ok(total < 100_000, `the page and its first data: ${total} bytes`);
      assert.ok(helloBytes < 100_000, `the stream's first event: ${helloBytes} bytes`);
      await page.screenshot({ path: await artifact("inspector-10000.png") });
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
    await crowd.stdin.close();
    await stdout.cancel();
    await crowd.status;
    // The crowd never read what it was sent, so Deno's close of a socket whose peer is gone but not
    // yet noticed waits behind unread data (docs/deno-limits.md): let the hub see every peer go
    // before closing it, as a loaded machine may take a while to deliver 10,000 resets.
    await until(() => hub.stats().sockets === 0, 60_000, "the crowd's sockets to be released");
    await served.close();
  },
});
