/// <reference lib="dom" />
/**
 * The chat page's script. main.ts bundles it with the client module into
 * /app.js. Join with `?name=alice` in the URL to skip the form.
 *
 * Channels are rooms this page joins itself (`client.join`): the client
 * rejoins them after a reconnect. The server puts every connection in the
 * lobby; the online list is the lobby's presence and a channel's member list
 * its own: loaded once with `client.presence(room)`, then kept up to date by
 * `presence` events — one diff per room per window (the users who joined and
 * left; one who came and went inside the window is in neither), applied as
 * set operations.
 *
 * Channels keep history. A channel is joined with
 * `client.join(room, { history: HISTORY_LINES })`: its recent lines come
 * first, then the live ones, with no gap and no duplicate — nothing to merge
 * here. After a reconnect the client is sent what it missed by itself; when
 * it could not be (`recovery` with `recovered: false`: the server restarted,
 * say), the page says so in the channel, and the hub sends the channel's
 * recent lines again in its place.
 *
 * @module
 */

import {
  connect,
  type HubClient,
  JoinError,
  type PresenceDiff,
  SendQueueFullError,
  UnauthorizedError,
} from "../../src/client/mod.ts";
import {
  CHANNEL_PATTERN,
  CHANNELS,
  type ChatEvent,
  type ChatMessage,
  type ChatRequest,
  HISTORY_LINES,
  LOBBY,
  NAME_PATTERN,
} from "./messages.ts";

const $ = <E extends HTMLElement>(selector: string) => document.querySelector(selector) as E;
const joinForm = $<HTMLFormElement>("#join");
const nameInput = $<HTMLInputElement>("#name");
const chat = $<HTMLElement>("#chat");
const me = $<HTMLElement>("#me");
const status = $<HTMLElement>("#status");
const rtt = $<HTMLElement>("#rtt");
const channelList = $<HTMLUListElement>("#channels");
const channelForm = $<HTMLFormElement>("#join-channel");
const channelInput = $<HTMLInputElement>("#channel");
const suggestions = $<HTMLElement>("#suggestions");
const users = $<HTMLUListElement>("#users");
const roomName = $<HTMLElement>("#room-name");
const memberList = $<HTMLUListElement>("#members");
const messages = $<HTMLUListElement>("#messages");
const composer = $<HTMLFormElement>("#composer");
const to = $<HTMLSelectElement>("#to");
const text = $<HTMLInputElement>("#text");

const STATE_LABELS = {
  connecting: "connecting…",
  open: "connected",
  reconnecting: "reconnecting…",
  closed: "disconnected",
};

let client: HubClient<ChatEvent, ChatRequest>;
let self = "";
/** The channels this page is in (or is joining), in the order it joined them. */
const channels: string[] = [];
/** The channel shown; `undefined` once the page left them all. */
let current: string | undefined;
/** Channels with lines not seen yet. */
const unread = new Set<string>();
/** Who is in each room: the lobby (online) and this page's channels. */
const members = new Map<string, Set<string>>();
/** When this page joined each channel (lines said before are recent ones). */
const joinedAt = new Map<string, number>();
/** Presence diffs that arrived while a room's member list was being loaded. */
const catchingUp = new Map<string, PresenceDiff[]>();

function start(name: string): void {
  self = name;
  joinForm.hidden = true;
  chat.hidden = false;
  me.textContent = name;
  status.hidden = false;
  document.title = `${name} · wshub chat`;
  const url = new URL(location.href);
  url.searchParams.set("name", name);
  history.replaceState(null, "", url);

  client = connect<ChatEvent, ChatRequest>("/ws", {
    // A short-lived signed token, fetched before every connection and whenever
    // the hub asks for a fresh one (then sent on the same connection: no
    // reconnect). Demo-only: /token signs the name typed; a real app's /token
    // signs the user of the session cookie sent with this request.
    getToken: async () => {
      const response = await fetch(`/token?name=${encodeURIComponent(name)}`, {
        cache: "no-store",
      });
      if (response.status === 400 || response.status === 401) {
        throw new UnauthorizedError(await response.text()); // the client closes for good
      }
      if (!response.ok) throw new Error(`/token answered ${response.status}`); // retried
      return await response.text();
    },
    reconnect: { initialDelay: 250, maxDelay: 4_000 },
  });
  // Which connection this is, and how many fresh tokens it took (the Chromium test reads them).
  let refreshes = 0;
  client.on("open", (hello) => {
    refreshes = 0;
    status.dataset.connection = hello.id;
    status.dataset.refreshes = "0";
  });
  client.on("refresh", () => {
    refreshes++;
    status.dataset.refreshes = String(refreshes);
  });
  const showState = (state: keyof typeof STATE_LABELS) => {
    status.dataset.state = state;
    status.textContent = STATE_LABELS[state];
  };
  showState(client.state);
  client.on("state", showState);
  let lost = false;
  client.on("close", ({ code, reason, reconnecting }) => {
    const why = `${code}${reason ? `: ${reason}` : ""}`;
    if (!reconnecting) notice(`Disconnected (${why}). Reload to rejoin.`);
    else if (!lost) notice(`Connection lost (${why}); reconnecting…`);
    lost = reconnecting;
    members.clear(); // unknown until the next connection: not shown stale
    render();
  });
  client.on("open", () => {
    if (lost) notice("Reconnected.");
    lost = false;
    // The server has put this connection in the lobby again. The client has
    // already asked to rejoin this page's channels by itself, with the
    // offset of the last line it delivered in each: the `recovery` event
    // below says when it is back in one.
    void loadMembers(LOBBY);
  });
  client.on("recovery", ({ room, recovered, reason }) => {
    if (!channels.includes(room)) return; // a channel left meanwhile
    // Back in the room (a rejoin was answered): a member list loaded now
    // misses no presence event. (A repaired gap answers too: nothing to do.)
    if (!members.has(room) && !catchingUp.has(room)) void loadMembers(room);
    // What was said while away could not all be sent (the server lost the
    // channel's history, or more was said than it keeps): say so. The hub
    // sends the channel's recent lines next, as the join asked.
    if (!recovered) {
      notice("Some messages may be missing.", room).title = `recovery failed: ${reason}`;
    }
  });
  client.on("error", (error) => {
    // A channel this page was in, refused when the client rejoined it.
    if (error instanceof JoinError) refused(error);
    else console.warn(error);
  });
  client.on("message", (event, meta) => {
    if (event.type === "notice") notice(event.text);
    else if (meta.room === undefined) showMessage(event); // a private message
    else if (channels.includes(meta.room)) {
      // A recent line (said before this page joined) does not mark the channel unread.
      showMessage(event, meta.room, meta.offset, event.at < (joinedAt.get(meta.room) ?? 0));
    }
  });
  client.on("presence", (diff) => {
    catchingUp.get(diff.room)?.push(diff);
    const users = members.get(diff.room);
    if (users !== undefined) apply(users, diff);
    if (diff.room !== LOBBY && channels.includes(diff.room)) {
      const said = (list: string[], what: string) => {
        const others = list.filter((user) => user !== self);
        if (others.length > 0) notice(`${others.join(", ")} ${what}`, diff.room);
      };
      said(diff.joins, "joined");
      said(diff.leaves, "left");
    }
    render();
  });
  const showRtt = setInterval(() => {
    const known = client.state === "open" && client.rtt !== undefined;
    rtt.textContent = known ? `${client.rtt!.toFixed(1)} ms` : "";
  }, 1_000);
  client.on("state", (state) => {
    if (state === "closed") clearInterval(showRtt);
  });
  addChannel(CHANNELS[0]);
  text.focus();
}

/** Joins a channel (sent at once when open, else on the next connection) and shows it. */
function addChannel(room: string): void {
  if (!channels.includes(room)) {
    channels.push(room);
    void enter(room);
  }
  show(room);
}

/**
 * Joins `room` with its recent lines (they come before the live ones), then
 * loads who is in it; a refusal drops the channel.
 */
async function enter(room: string): Promise<void> {
  joinedAt.set(room, Date.now());
  try {
    await client.join(room, { history: HISTORY_LINES });
  } catch (error) {
    if (error instanceof JoinError) refused(error);
    return; // otherwise the client was closed for good
  }
  if (channels.includes(room)) await loadMembers(room);
}

function refused(error: JoinError): void {
  if (!channels.includes(error.room)) return; // left already, or told twice
  dropChannel(error.room);
  // For example "Could not join #admins (forbidden): joining #admins is not allowed".
  notice(error.message, undefined, "error");
}

function leaveChannel(room: string): void {
  dropChannel(room);
  client.leave(room).catch((error) => console.warn(error));
}

function dropChannel(room: string): void {
  channels.splice(channels.indexOf(room), 1);
  members.delete(room);
  joinedAt.delete(room);
  unread.delete(room);
  for (const li of messages.querySelectorAll<HTMLElement>("li[data-room]")) {
    if (li.dataset.room === room) li.remove();
  }
  show(current === room ? channels[0] : current);
}

/**
 * Loads who is in `room` (`client.presence`, cluster-wide with a backplane).
 * Presence diffs that arrive meanwhile may be newer than the answer: they
 * are applied on top of it, in order. (The hub sends the first diffs after
 * an answer with every changed user's final state, so the list ends right.)
 */
async function loadMembers(room: string): Promise<void> {
  const since: PresenceDiff[] = [];
  catchingUp.set(room, since);
  try {
    const users = new Set((await client.presence(room)).map((entry) => entry.user));
    for (const diff of since) apply(users, diff);
    if (room === LOBBY || channels.includes(room)) members.set(room, users);
  } catch (error) {
    console.warn(`Could not load who is in ${room}:`, error); // asked again on the next open
  } finally {
    if (catchingUp.get(room) === since) catchingUp.delete(room);
  }
  render();
}

function apply(users: Set<string>, diff: PresenceDiff): void {
  for (const user of diff.joins) users.add(user);
  for (const user of diff.leaves) users.delete(user);
}

/** Shows `room`'s lines (and every private line and notice) and its members. */
function show(room: string | undefined): void {
  current = room;
  if (room !== undefined) unread.delete(room);
  for (const li of messages.querySelectorAll<HTMLElement>("li[data-room]")) {
    li.hidden = li.dataset.room !== room;
  }
  messages.scrollTop = messages.scrollHeight;
  render();
}

function render(): void {
  sync(channelList, "room", channels, (room) => {
    const li = document.createElement("li");
    const label = document.createElement("span");
    label.textContent = room;
    const count = document.createElement("span");
    count.className = "count";
    const leave = document.createElement("button");
    leave.className = "leave";
    leave.textContent = "×";
    leave.title = `Leave ${room}`;
    leave.onclick = (event) => {
      event.stopPropagation();
      leaveChannel(room);
    };
    li.onclick = () => show(room);
    li.append(label, count, leave);
    return li;
  }, (li, room) => {
    li.classList.toggle("current", room === current);
    li.classList.toggle("unread", unread.has(room));
    li.querySelector(".count")!.textContent = String(members.get(room)?.size ?? "");
  });
  sync(suggestions, "room", CHANNELS.filter((room) => !channels.includes(room)), (room) => {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = room;
    button.title = `Join ${room}`;
    button.onclick = () => addChannel(room);
    return button;
  });

  roomName.textContent = current ?? "No channel: join one";
  const inRoom = [...(current === undefined ? [] : members.get(current) ?? [])].sort();
  sync(memberList, "name", inRoom, (name) => {
    const li = document.createElement("li");
    li.textContent = name;
    return li;
  });

  const online = [...members.get(LOBBY) ?? []].sort();
  const selected = to.value;
  sync(users, "name", online, (name) => {
    const li = document.createElement("li");
    li.textContent = name;
    if (name === self) li.className = "self";
    else {
      li.onclick = () => {
        to.value = to.value === name ? "" : name;
        to.dispatchEvent(new Event("change"));
        text.focus();
      };
    }
    return li;
  }, (li, name) => li.classList.toggle("selected", name !== self && name === selected));
  // Recipients: the channel shown, or someone online; a chosen recipient stays
  // while offline (the server says if they are).
  const recipients = online.filter((name) => name !== self);
  if (selected && !online.includes(selected)) recipients.push(selected);
  const options = [
    new Option(current ?? "(no channel)", ""),
    ...recipients.map((name) =>
      new Option(online.includes(name) ? name : `${name} (offline)`, name)
    ),
  ];
  const texts = (list: Iterable<HTMLOptionElement>) =>
    [...list].map((option) => option.text).join();
  if (texts(options) !== texts(to.options)) { // rebuilt only when it changes: it may be open
    to.replaceChildren(...options);
    to.value = selected;
  }
}

/**
 * Makes `list`'s children one element per key, in order (the key in
 * `data-<attribute>`), reusing the ones it has: `make` builds a new one,
 * `update` refreshes each. An element is never rebuilt under the pointer, so
 * a click is not lost to a presence event that arrives mid-click.
 */
function sync<E extends HTMLElement>(
  list: HTMLElement,
  attribute: string,
  keys: readonly string[],
  make: (key: string) => E,
  update?: (element: E, key: string) => void,
): void {
  const old = new Map<string, E>();
  for (const element of list.children as HTMLCollectionOf<E>) {
    old.set(element.dataset[attribute]!, element);
  }
  const elements = keys.map((key) => {
    let element = old.get(key);
    if (element === undefined) {
      element = make(key);
      element.dataset[attribute] = key;
    }
    update?.(element, key);
    return element;
  });
  const same = elements.length === list.children.length &&
    elements.every((element, i) => list.children[i] === element);
  if (!same) list.replaceChildren(...elements);
}

to.onchange = () => {
  for (const li of users.querySelectorAll<HTMLElement>("li")) {
    li.classList.toggle("selected", li.dataset.name === to.value);
  }
};

/**
 * Shows a line: in `room` when it came through one (with its offset there),
 * else (private) in every channel. A recent line (`old`) does not mark its
 * channel unread.
 */
function showMessage(event: ChatMessage, room?: string, offset?: number, old = false): void {
  const li = document.createElement("li");
  const from = document.createElement("span");
  from.className = "from";
  from.textContent = event.to === undefined
    ? event.from
    : event.from === self
    ? `you → ${event.to}`
    : `${event.from} → you`;
  const time = document.createElement("time");
  time.dateTime = new Date(event.at).toISOString();
  time.textContent = new Date(event.at).toLocaleTimeString([], {
    hour: "2-digit",
    minute: "2-digit",
  });
  const body = document.createElement("span");
  body.className = "text";
  body.textContent = event.text;
  li.className = room === undefined ? "private" : "room";
  if (offset !== undefined) li.dataset.offset = String(offset);
  li.append(time, from, body);
  append(li, room, !old);
}

/** Shows a notice: in `room` only, or (no room) whatever channel is shown. */
function notice(message: string, room?: string, kind = "notice"): HTMLLIElement {
  const li = document.createElement("li");
  li.className = kind;
  li.textContent = message;
  append(li, room);
  return li;
}

/** Adds `li` to the lines (`room`'s only, when given); a `fresh` chat line marks its room unread. */
function append(li: HTMLLIElement, room?: string, fresh = false): void {
  const atBottom = messages.scrollHeight - messages.scrollTop - messages.clientHeight < 40;
  if (room !== undefined) {
    li.dataset.room = room;
    li.hidden = room !== current;
    if (li.hidden && fresh && li.className === "room") {
      unread.add(room);
      render();
    }
  }
  messages.append(li);
  if (atBottom) messages.scrollTop = messages.scrollHeight;
}

joinForm.onsubmit = (event) => {
  event.preventDefault();
  const name = nameInput.value.trim();
  if (NAME_PATTERN.test(name)) start(name);
};

channelForm.onsubmit = (event) => {
  event.preventDefault();
  const typed = channelInput.value.trim().toLowerCase();
  const room = typed.startsWith("#") ? typed : `#${typed}`;
  if (!CHANNEL_PATTERN.test(room)) {
    notice(`${room}: a channel is # and 1-30 letters, digits, _ or -`, undefined, "error");
    return;
  }
  channelInput.value = "";
  addChannel(room);
};

composer.onsubmit = (event) => {
  event.preventDefault();
  const line = text.value.trim();
  if (!line || !client) return;
  if (!to.value && current === undefined) return notice("Join a channel first.");
  try {
    client.send(
      to.value
        ? { type: "whisper", to: to.value, text: line }
        : { type: "say", room: current!, text: line },
    );
    text.value = "";
  } catch (error) {
    notice(
      error instanceof SendQueueFullError
        ? "Not connected and too many messages waiting: try again once reconnected."
        : `Could not send: ${(error as Error).message}`,
    );
  }
};

const preset = new URL(location.href).searchParams.get("name");
if (preset && NAME_PATTERN.test(preset)) start(preset);
