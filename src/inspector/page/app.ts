/// <reference lib="dom" />
/**
 * The inspector page's script, bundled into `assets.ts` by
 * `tools/build_inspector.ts`. It reads one server-sent-events stream
 * (`api/stream`: a `hello`, then a `tick` every interval) for the overview
 * and the event log, and asks for the tables (`api/clients`, `api/rooms`,
 * `api/room`) when they are shown, paged. Everything it shows is set as
 * text (`textContent`, attributes of data-* names): user ids, room names
 * and messages come from clients and are never parsed as HTML.
 *
 * @module
 */

import type {
  ActionResult,
  ClientRow,
  ClientsPage,
  Hello,
  LogEvent,
  PublicationView,
  RoomDetail,
  RoomsPage,
  Sample,
  Tick,
} from "../api.ts";

// ---------------------------------------------------------------------------------------------
// DOM helpers: every string becomes a text node.

type Child = Node | string | number | undefined | null | false;

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: { class?: string; data?: Record<string, string>; title?: string } = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (props.class !== undefined) node.className = props.class;
  if (props.title !== undefined) node.title = props.title;
  for (const [name, value] of Object.entries(props.data ?? {})) node.dataset[name] = value;
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    node.append(typeof child === "number" ? String(child) : child);
  }
  return node;
}

const SVG = "http://www.w3.org/2000/svg";

function svg(tag: string, attributes: Record<string, string | number>, text?: string): SVGElement {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function $<E extends Element = HTMLElement>(selector: string): E {
  const found = document.querySelector<E>(selector);
  if (found === null) throw new Error(`missing ${selector}`);
  return found;
}

function setText(selector: string, text: string): void {
  for (const node of document.querySelectorAll(selector)) node.textContent = text;
}

// ---------------------------------------------------------------------------------------------
// Formats

const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });

function count(n: number): string {
  return integer.format(n);
}

function rate(n: number | undefined): string {
  return n === undefined ? "–" : n < 10 ? decimal.format(n) : integer.format(n);
}

function bytes(n: number | undefined): string {
  if (n === undefined) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let unit = 0;
  while (n >= 1024 && unit < units.length - 1) {
    n /= 1024;
    unit++;
  }
  return `${unit === 0 ? integer.format(n) : decimal.format(n)} ${units[unit]}`;
}

function ms(n: number | undefined): string {
  if (n === undefined) return "–";
  return n < 10 ? `${decimal.format(n)} ms` : `${integer.format(n)} ms`;
}

function seconds(s: number): string {
  return s < 1 ? `${decimal.format(s * 1000)} ms` : `${decimal.format(s)} s`;
}

const pad = (n: number) => String(n).padStart(2, "0");

function clock(t: number): string {
  const d = new Date(t);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function since(t: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(t).toISOString().slice(0, 10);
}

function until(t: number, now = Date.now()): string {
  const s = Math.round((t - now) / 1000);
  if (s <= 0) return "expired";
  if (s < 60) return `in ${s} s`;
  if (s < 3600) return `in ${Math.floor(s / 60)} min`;
  return `in ${Math.floor(s / 3600)} h`;
}

const shortId = (id: string) => id.slice(0, 8);

// ---------------------------------------------------------------------------------------------
// Requests

function notice(text: string, error = false): void {
  const node = $("#notice");
  node.textContent = text;
  node.classList.toggle("error", error);
}

async function getJson<T>(path: string): Promise<T> {
  const response = await fetch(path, { headers: { accept: "application/json" } });
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return await response.json() as T;
}

async function action(name: string, body: Record<string, unknown>): Promise<ActionResult> {
  const response = await fetch(`api/${name}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const result = await response.json().catch(() => ({ ok: false, error: response.statusText }));
  return result as ActionResult;
}

/**
 * A button that asks for a second click within three seconds before it
 * acts (no `confirm()`: a dialog would stop the page's updates).
 */
function armed(label: string, act: () => Promise<void>, data: Record<string, string>): HTMLElement {
  const button = el("button", { class: "danger", data }, label);
  button.type = "button";
  let timer: ReturnType<typeof setTimeout> | undefined;
  button.addEventListener("click", () => {
    if (!button.classList.contains("armed")) {
      button.classList.add("armed");
      button.textContent = "Sure?";
      timer = setTimeout(() => {
        button.classList.remove("armed");
        button.textContent = label;
      }, 3000);
      return;
    }
    clearTimeout(timer);
    button.disabled = true;
    void act().finally(() => {
      button.disabled = false;
      button.classList.remove("armed");
      button.textContent = label;
    });
  });
  return button;
}

async function run(what: string, name: string, body: Record<string, unknown>): Promise<void> {
  try {
    const result = await action(name, body);
    if (result.ok) notice(`${what}: done${result.count === undefined ? "" : ` (${result.count})`}`);
    else notice(`${what}: ${result.error ?? "refused"}`, true);
  } catch (error) {
    notice(`${what}: ${(error as Error).message}`, true);
  }
  refreshShown();
}

// ---------------------------------------------------------------------------------------------
// Tabs

type Tab = "overview" | "clients" | "rooms" | "events";
let shown: Tab = "overview";

function showTab(): void {
  const wanted = location.hash.slice(1);
  shown = wanted === "clients" || wanted === "rooms" || wanted === "events" ? wanted : "overview";
  for (const panel of document.querySelectorAll<HTMLElement>("[data-panel]")) {
    panel.hidden = panel.dataset.panel !== shown;
  }
  for (const link of document.querySelectorAll<HTMLElement>("[data-tab]")) {
    link.classList.toggle("current", link.dataset.tab === shown);
  }
  refreshShown();
}

function refreshShown(): void {
  if (shown === "clients") void loadClients();
  if (shown === "rooms") {
    void loadRooms();
    if (openRoom !== undefined) void loadRoom(openRoom);
  }
  if (shown === "events") renderEvents();
}

// ---------------------------------------------------------------------------------------------
// Overview

let buckets: readonly number[] = [];
let series: Sample[] = [];
let seriesLimit = 300;
/** The delivery-wait counts at each tick of the last minute: the chart shows the difference. */
let waitHistory: { t: number; counts: number[]; sum: number }[] = [];

function lineChart(name: keyof Sample & string, format: (n: number) => string): void {
  const node = $<SVGSVGElement>(`svg[data-chart="${name}"]`);
  const values = series.map((sample) => sample[name]);
  const max = Math.max(1, ...values);
  const step = 300 / Math.max(1, seriesLimit - 1);
  const start = 300 - step * (values.length - 1);
  const points = values.map((value, i) =>
    `${(start + i * step).toFixed(1)},${(58 - (value / max) * 56).toFixed(1)}`
  );
  node.replaceChildren(svg("polyline", { points: points.join(" ") }));
  const last = values.at(-1);
  setText(
    `[data-chart-label="${name}"]`,
    last === undefined ? "" : `now ${format(last)} · max ${format(max)}`,
  );
}

function waitsChart(counts: number[], sum: number): void {
  const t = Date.now();
  waitHistory.push({ t, counts, sum });
  while (waitHistory.length > 1 && waitHistory[0].t < t - 60_000) waitHistory.shift();
  const base = waitHistory.length > 1 ? waitHistory[0] : { counts: counts.map(() => 0), sum: 0 };
  const recent = counts.map((n, i) => n - (base.counts[i] ?? 0));
  const total = recent.reduce((a, b) => a + b, 0);
  const max = Math.max(1, ...recent);
  const width = 340 / recent.length;
  const node = $<SVGSVGElement>("#waits");
  const parts: SVGElement[] = [];
  recent.forEach((n, i) => {
    const height = (n / max) * 80;
    const label = i < buckets.length ? `≤${seconds(buckets[i])}` : "more";
    const bar = svg("rect", {
      x: (i * width + 1).toFixed(1),
      y: (84 - height).toFixed(1),
      width: (width - 2).toFixed(1),
      height: Math.max(n > 0 ? 1 : 0, height).toFixed(1),
    });
    bar.append(svg("title", {}, `${label}: ${count(n)}`));
    parts.push(bar);
    if (i % 2 === 0 || i === recent.length - 1) {
      parts.push(svg("text", { x: (i * width + 1).toFixed(1), y: 100 }, label.replace(" ", "")));
    }
  });
  node.replaceChildren(...parts);
  const mean = total > 0 ? (sum - base.sum) / total : undefined;
  $("#waits-summary").textContent = total === 0
    ? "No message handed to a socket in the last minute."
    : `${count(total)} hand-offs in the last minute; mean wait ${seconds(mean!)}.`;
}

function definitions(selector: string, entries: [string, string][]): void {
  $(selector).replaceChildren(
    ...entries.flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, value)]),
  );
}

function renderTick(tick: Tick): void {
  const s = tick.stats;
  setText('[data-stat="connections"]', count(s.connections));
  setText('[data-stat="framed"]', count(s.framedConnections));
  setText('[data-stat="plain"]', count(s.connections - s.framedConnections));
  setText('[data-stat="users"]', count(s.users));
  setText('[data-stat="rooms"]', count(s.rooms));
  setText('[data-stat="messagesIn"]', rate(tick.rates?.messagesIn));
  setText('[data-stat="messagesOut"]', rate(tick.rates?.messagesOut));
  setText('[data-stat="bytesOut"]', bytes(tick.rates?.bytesOut));
  setText('[data-stat="messagesInTotal"]', count(s.messagesIn));
  setText('[data-stat="deliveries"]', count(s.deliveries));
  setText('[data-stat="bytesOutTotal"]', bytes(s.bytesOut));
  if (tick.rates !== undefined) {
    series.push(tick.rates);
    if (series.length > seriesLimit) series.splice(0, series.length - seriesLimit);
  }
  lineChart("connections", count);
  lineChart("messagesIn", rate);
  lineChart("messagesOut", rate);
  lineChart("bytesOut", bytes);
  waitsChart(tick.waits.counts, tick.waits.sum);

  const codes = Object.entries(s.closeCodes).sort((a, b) => b[1] - a[1]);
  $("#close-codes tbody").replaceChildren(
    ...(codes.length === 0
      ? [el("tr", {}, el("td", {}, "none yet"), el("td"))]
      : codes.map(([code, n]) =>
        el("tr", { data: { code } }, el("td", {}, code), el("td", {}, count(n)))
      )),
  );
  definitions("#limits", [
    ["Rate-limited frames", count(s.rateLimited)],
    ["Slow consumers closed", count(s.slowConsumers)],
    ["Messages dropped", count(s.dropped)],
    [
      "Timeouts",
      `${
        count(s.timedOut)
      } (heartbeat ${s.timeouts.heartbeat}, write ${s.timeouts.write}, idle ${s.timeouts.idle})`,
    ],
    ["Refused for capacity", count(s.refusedForCapacity)],
    ["Sockets held", `${count(s.sockets)} (${count(s.closing)} closing)`],
    ["Inbox bytes", bytes(s.inboxBytes)],
    ["Requests in flight", count(s.requests.inFlight)],
  ]);
  const backplane = tick.backplane;
  $("#backplane").hidden = backplane === undefined;
  document.body.classList.toggle("cluster", backplane?.status === "up");
  if (backplane !== undefined) {
    const b = backplane.stats;
    definitions("#backplane-facts", [
      ["Status", backplane.status],
      ["This process", backplane.node ?? "–"],
      ["Round trip", ms(b?.roundTrip)],
      ["Published", b === undefined ? "–" : count(b.published)],
      ["Received", b === undefined ? "–" : count(b.received)],
      ["Not published (bus down)", b === undefined ? "–" : count(b.dropped)],
      ["Channels", b === undefined ? "–" : count(b.channels)],
    ]);
  }
}

// ---------------------------------------------------------------------------------------------
// Events

const EVENTS_SHOWN = 500;
/** A line saying that some events of one tick were left out. */
interface Skipped {
  type: "skipped";
  seq: number;
  t: number;
  count: number;
}
let events: (LogEvent | Skipped)[] = [];
let lastSeq = 0;
let eventsDirty = false;

function eventDetails(event: LogEvent | Skipped): string {
  switch (event.type) {
    case "skipped":
      return `${count(event.count)} events left out (too many at once)`;
    case "connect":
      return `${event.framed ? "framed" : "plain"}${event.address ? ` from ${event.address}` : ""}`;
    case "disconnect":
      return `code ${event.code}${event.reason ? ` “${event.reason}”` : ""}, by ${
        event.byHub ? "the hub" : "the peer"
      }`;
    case "join":
    case "leave":
      return event.room ?? "";
    case "refused":
      return `upgrade answered ${event.status}${event.address ? ` to ${event.address}` : ""}`;
    case "joinRefused":
      return `join ${event.room} refused (${event.error})`;
    case "watch":
      return "an inspector page opened: events are recorded from here";
  }
}

function addEvents(fresh: LogEvent[], skipped = 0): void {
  let changedClients = false;
  for (const event of fresh) {
    if (event.seq <= lastSeq) continue;
    lastSeq = event.seq;
    events.push(event);
    if (event.type === "connect" || event.type === "disconnect") changedClients = true;
  }
  if (skipped > 0) events.push({ type: "skipped", seq: lastSeq, t: Date.now(), count: skipped });
  if (events.length > EVENTS_SHOWN) events = events.slice(-EVENTS_SHOWN);
  eventsDirty = true;
  if (shown === "events") renderEvents();
  if (changedClients && shown === "clients") scheduleClients();
}

function renderEvents(): void {
  if (!eventsDirty || ($<HTMLInputElement>("#pause")).checked) return;
  eventsDirty = false;
  const rows = events.slice().reverse().map((event) => {
    const user = event.type === "skipped" ? undefined : event.user;
    const id = event.type === "skipped" ? undefined : event.id;
    return el(
      "tr",
      { data: { type: event.type, seq: String(event.seq), user: user ?? "", id: id ?? "" } },
      el("td", {}, clock(event.t)),
      el("td", {}, event.type),
      el("td", { class: "wrap" }, user ?? ""),
      el("td", { class: "id", title: id }, id === undefined ? "" : shortId(id)),
      el("td", { class: "wrap" }, eventDetails(event)),
    );
  });
  $("#event-log tbody").replaceChildren(...rows);
}

// ---------------------------------------------------------------------------------------------
// Clients

const clientState = { offset: 0, limit: 50 };
let clientTimer: ReturnType<typeof setTimeout> | undefined;
let clientsLoading = false;

/** A table's query: its filter form's fields that are set, and its page. */
function tableParams(form: string, state: { offset: number; limit: number }): URLSearchParams {
  const params = new URLSearchParams();
  for (const [name, value] of new FormData($<HTMLFormElement>(form))) {
    const text = String(value).trim();
    if (text !== "" && name !== "live") params.set(name, text);
  }
  params.set("offset", String(state.offset));
  params.set("limit", String(state.limit));
  return params;
}

/** Shows which rows of how many a table holds, and enables its pager's buttons. */
function showRange(
  section: string,
  page: { total: number; offset: number; rows: unknown[] },
  noun: string,
): void {
  const end = page.offset + page.rows.length;
  $(`#${section} .pager span`).textContent = page.total === 0
    ? `no ${noun}`
    : `${count(page.offset + 1)}–${count(end)} of ${count(page.total)}`;
  $<HTMLButtonElement>(`#${section} [data-page="prev"]`).disabled = page.offset === 0;
  $<HTMLButtonElement>(`#${section} [data-page="next"]`).disabled = end >= page.total;
}

function scheduleClients(delay = 500): void {
  clearTimeout(clientTimer);
  clientTimer = setTimeout(() => void loadClients(), delay);
}

function filterButton(text: string, field: "user" | "room"): HTMLElement {
  const button = el("button", { class: "link", data: { filter: field } }, text);
  button.type = "button";
  button.addEventListener("click", () => {
    $<HTMLInputElement>(`#client-filter [name="${field}"]`).value = text;
    clientState.offset = 0;
    void loadClients();
  });
  return button;
}

function clientRow(row: ClientRow): HTMLTableRowElement {
  const actions = el("td", { class: "actions" });
  actions.append(armed("Close", () => run("Close", "close", { id: row.id }), { action: "close" }));
  if (row.user !== undefined) {
    const user = row.user;
    actions.append(
      " ",
      armed("Disconnect user", () => run("Disconnect user", "disconnect-user", { user }), {
        action: "disconnect-user",
      }),
    );
  }
  const rooms = el("td", { class: "wrap" });
  row.rooms.forEach((room, i) => rooms.append(i > 0 ? ", " : "", filterButton(room, "room")));
  if (row.roomCount > row.rooms.length) rooms.append(` +${row.roomCount - row.rooms.length}`);
  return el(
    "tr",
    { data: { id: row.id, user: row.user ?? "" } },
    el("td", { class: "id", title: row.id, data: { col: "id" } }, shortId(row.id)),
    el(
      "td",
      { class: "wrap", data: { col: "user" } },
      row.user === undefined ? "anonymous" : filterButton(row.user, "user"),
    ),
    el("td", { title: row.protocol, data: { col: "kind" } }, row.framed ? "framed" : "plain"),
    el("td", { data: { col: "address" } }, row.address ?? "–"),
    el("td", { title: new Date(row.connectedAt).toISOString() }, since(row.connectedAt)),
    rooms,
    el("td", { data: { col: "rtt" } }, ms(row.rtt)),
    el("td", { data: { col: "queued" } }, count(row.queued)),
    el("td", { data: { col: "buffered" } }, bytes(row.buffered)),
    el("td", {}, bytes(row.sent)),
    el(
      "td",
      { data: { col: "expires" } },
      row.expiresAt === undefined ? "–" : until(row.expiresAt),
    ),
    actions,
  );
}

async function loadClients(): Promise<void> {
  clearTimeout(clientTimer);
  if (clientsLoading) return scheduleClients();
  clientsLoading = true;
  try {
    const page = await getJson<ClientsPage>(
      `api/clients?${tableParams("#client-filter", clientState)}`,
    );
    showRange("clients", page, "client");
    $("#client-table tbody").replaceChildren(...page.rows.map(clientRow));
    $("#client-table").dataset.total = String(page.total);
  } catch (error) {
    notice((error as Error).message, true);
  } finally {
    clientsLoading = false;
  }
  // Live: again in a few seconds while shown (each is one request, one page of rows).
  if (shown === "clients" && $<HTMLInputElement>('#client-filter [name="live"]').checked) {
    scheduleClients(5000);
  }
}

// ---------------------------------------------------------------------------------------------
// Rooms

const roomState = { offset: 0, limit: 50 };
let openRoom: string | undefined;

function position(history: { epoch: string; offset: number } | null | undefined): string {
  if (history === null || history === undefined) return "–";
  return history.epoch === "" ? "empty" : `${history.offset} (epoch ${history.epoch.slice(0, 8)})`;
}

async function loadRooms(): Promise<void> {
  try {
    const page = await getJson<RoomsPage>(`api/rooms?${tableParams("#room-filter", roomState)}`);
    showRange("rooms", page, "room");
    $("#room-table tbody").replaceChildren(...page.rows.map((row) => {
      const open = el("button", { class: "link", data: { room: row.name } }, row.name);
      open.type = "button";
      open.addEventListener("click", () => void loadRoom(row.name));
      return el(
        "tr",
        { data: { room: row.name } },
        el("td", { class: "wrap" }, open),
        el("td", {}, count(row.members)),
        el("td", {}, count(row.users)),
        el(
          "td",
          { class: "cluster" },
          row.clusterUsers === undefined ? "–" : count(row.clusterUsers),
        ),
        el("td", {}, position(row.history)),
      );
    }));
  } catch (error) {
    notice((error as Error).message, true);
  }
}

function publicationItem(publication: PublicationView): HTMLElement {
  const head = [
    publication.offset > 0 ? `#${publication.offset}` : "",
    publication.t === undefined ? "" : clock(publication.t),
    publication.members === undefined ? "" : `to ${publication.members}`,
  ].filter((part) => part !== "").join(" · ");
  return el(
    "li",
    {},
    el("span", { class: "note" }, head === "" ? "" : `${head}: `),
    publication.preview ?? `(${bytes(publication.size)} of binary data)`,
  );
}

async function loadRoom(name: string): Promise<void> {
  openRoom = name;
  let detail: RoomDetail;
  try {
    detail = await getJson<RoomDetail>(`api/room?name=${encodeURIComponent(name)}`);
  } catch (error) {
    notice((error as Error).message, true);
    return;
  }
  if (openRoom !== name) return;
  $("#room-detail").hidden = false;
  $("#room-detail").dataset.room = name;
  $("#room-name").textContent = name;
  const facts: [string, string][] = [
    ["Members here", count(detail.memberCount)],
    ["Users here", count(detail.presenceCount)],
  ];
  if (detail.cluster !== undefined) {
    facts.push([
      "Users, connections (cluster)",
      detail.cluster.error ??
        `${count(detail.cluster.users)}, ${count(detail.cluster.connections)}`,
    ]);
  }
  if (detail.history !== undefined) {
    facts.push(["History position", detail.history.error ?? position(detail.history)]);
  }
  definitions("#room-facts", facts);
  $("#room-members tbody").replaceChildren(...detail.members.map((row) => {
    const room = name;
    return el(
      "tr",
      { data: { id: row.id } },
      el("td", { class: "id", title: row.id }, shortId(row.id)),
      el("td", { class: "wrap" }, row.user ?? "anonymous"),
      el("td", {}, row.framed ? "framed" : "plain"),
      el("td", {}, count(row.queued)),
      el(
        "td",
        { class: "actions" },
        armed("Remove", () => run("Remove from room", "leave", { id: row.id, room }), {
          action: "leave",
        }),
      ),
    );
  }));
  if (detail.memberCount > detail.members.length) {
    $("#room-members tbody").append(
      el("tr", {}, el("td", {}, `… and ${count(detail.memberCount - detail.members.length)} more`)),
    );
  }
  $("#room-presence").replaceChildren(
    ...detail.presence.map((entry) =>
      el("li", {}, `${entry.user}${entry.connections > 1 ? ` (${entry.connections})` : ""}`)
    ),
  );
  const publications = detail.history?.publications ?? detail.recent;
  $("#publications-source").textContent = detail.history !== undefined
    ? "(from the room's history)"
    : "(delivered here since a page was opened)";
  $("#room-publications").replaceChildren(
    ...(publications.length === 0
      ? [el("li", { class: "note" }, "none")]
      : publications.map(publicationItem)),
  );
}

// ---------------------------------------------------------------------------------------------
// The stream

function onHello(hello: Hello): void {
  buckets = hello.buckets;
  seriesLimit = Math.max(2, Math.round(300_000 / hello.interval));
  series = hello.series.slice(-seriesLimit);
  waitHistory = [];
  document.body.classList.toggle("readonly", hello.readonly);
  $("#mode").hidden = !hello.readonly;
  // The server's log as it is now: after a restart its numbering starts again.
  events = [];
  lastSeq = 0;
  addEvents(hello.events);
  renderTick(hello.tick);
}

function connectStream(): void {
  const source = new EventSource("api/stream");
  const status = $("#status");
  source.addEventListener("open", () => {
    status.dataset.state = "live";
    status.textContent = "live";
  });
  source.addEventListener("error", () => {
    const closed = source.readyState === EventSource.CLOSED;
    status.dataset.state = "down";
    status.textContent = closed ? "disconnected (reload the page)" : "reconnecting…";
  });
  source.addEventListener("hello", (event) => onHello(JSON.parse((event as MessageEvent).data)));
  source.addEventListener("tick", (event) => {
    const tick = JSON.parse((event as MessageEvent).data) as Tick;
    addEvents(tick.events, tick.skipped);
    renderTick(tick);
  });
}

// ---------------------------------------------------------------------------------------------
// Wiring

/**
 * A table's controls: its filter form (submitted, or a select changed: back to the first page)
 * and its pager's buttons.
 */
function controls(section: string, state: { offset: number; limit: number }, load: () => unknown) {
  const first = (event?: Event) => {
    event?.preventDefault();
    state.offset = 0;
    load();
  };
  $<HTMLFormElement>(`#${section} > form`).addEventListener("submit", first);
  for (const select of document.querySelectorAll(`#${section} > form select`)) {
    select.addEventListener("change", () => first());
  }
  $(`#${section} [data-page="prev"]`).addEventListener("click", () => {
    state.offset = Math.max(0, state.offset - state.limit);
    load();
  });
  $(`#${section} [data-page="next"]`).addEventListener("click", () => {
    state.offset += state.limit;
    load();
  });
}

function start(): void {
  controls("clients", clientState, () => void loadClients());
  controls("rooms", roomState, () => void loadRooms());
  $<HTMLFormElement>("#publish").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    if (openRoom === undefined) return;
    void run("Publish", "publish", {
      room: openRoom,
      data: String(form.get("data") ?? ""),
      json: form.get("json") === "on",
    });
  });
  $<HTMLInputElement>("#pause").addEventListener("change", renderEvents);
  addEventListener("hashchange", showTab);
  showTab();
  connectStream();
}

start();
