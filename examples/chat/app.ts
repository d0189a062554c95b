/// <reference lib="dom" />
/**
 * The chat page's script. main.ts bundles it with the client module into
 * /app.js. Join with `?name=alice` in the URL to skip the form.
 *
 * @module
 */

import { connect, type HubClient, SendQueueFullError } from "../../src/client/mod.ts";
import { type ChatEvent, type ChatRequest, NAME_PATTERN } from "./messages.ts";

const $ = <E extends HTMLElement>(selector: string) => document.querySelector(selector) as E;
const joinForm = $<HTMLFormElement>("#join");
const nameInput = $<HTMLInputElement>("#name");
const chat = $<HTMLElement>("#chat");
const me = $<HTMLElement>("#me");
const status = $<HTMLElement>("#status");
const rtt = $<HTMLElement>("#rtt");
const users = $<HTMLUListElement>("#users");
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

let client: HubClient<ChatEvent, ChatRequest> | undefined;

function join(name: string): void {
  joinForm.hidden = true;
  chat.hidden = false;
  me.textContent = name;
  status.hidden = false;
  document.title = `${name} · wshub chat`;
  const url = new URL(location.href);
  url.searchParams.set("name", name);
  history.replaceState(null, "", url);

  // Demo-only identity: the name is the token. A real app passes a signed token.
  client = connect<ChatEvent, ChatRequest>("/ws", {
    token: name,
    reconnect: { initialDelay: 250, maxDelay: 4_000 },
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
  });
  client.on("open", () => {
    if (lost) notice("Reconnected.");
    lost = false;
  });
  client.on("error", (error) => console.warn(error));
  client.on("message", (event) => {
    if (event.type === "presence") showUsers(event.users, name);
    else if (event.type === "notice") notice(event.text);
    else showMessage(event, name);
  });
  const showRtt = setInterval(() => {
    const known = client?.state === "open" && client.rtt !== undefined;
    rtt.textContent = known ? `${client!.rtt!.toFixed(1)} ms` : "";
  }, 1_000);
  client.on("state", (state) => {
    if (state === "closed") clearInterval(showRtt);
  });
  text.focus();
}

function showUsers(names: string[], self: string): void {
  const selected = to.value;
  users.replaceChildren(...names.map((name) => {
    const li = document.createElement("li");
    li.textContent = name;
    li.dataset.name = name;
    if (name === self) li.className = "self";
    else {
      li.classList.toggle("selected", name === selected);
      li.onclick = () => {
        to.value = to.value === name ? "" : name;
        to.dispatchEvent(new Event("change"));
        text.focus();
      };
    }
    return li;
  }));
  const options = names.filter((name) => name !== self).map((name) => new Option(name, name));
  to.replaceChildren(new Option("Everyone", ""), ...options);
  // Keep a chosen recipient even while they are offline: the server says if they are.
  if (selected && !names.includes(selected)) {
    to.append(new Option(`${selected} (offline)`, selected));
  }
  to.value = selected;
}

to.onchange = () => {
  for (const li of users.querySelectorAll<HTMLElement>("li")) {
    li.classList.toggle("selected", li.dataset.name === to.value);
  }
};

function showMessage(event: Extract<ChatEvent, { type: "message" }>, self: string): void {
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
  li.className = event.to === undefined ? "global" : "private";
  li.append(time, from, document.createTextNode(event.text));
  append(li);
}

function notice(message: string): void {
  const li = document.createElement("li");
  li.className = "notice";
  li.textContent = message;
  append(li);
}

function append(li: HTMLLIElement): void {
  const atBottom = messages.scrollHeight - messages.scrollTop - messages.clientHeight < 40;
  messages.append(li);
  if (atBottom) messages.scrollTop = messages.scrollHeight;
}

joinForm.onsubmit = (event) => {
  event.preventDefault();
  const name = nameInput.value.trim();
  if (NAME_PATTERN.test(name)) join(name);
};

composer.onsubmit = (event) => {
  event.preventDefault();
  const line = text.value.trim();
  if (!line || !client) return;
  try {
    client.send(
      to.value ? { type: "whisper", to: to.value, text: line } : { type: "say", text: line },
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
if (preset && NAME_PATTERN.test(preset)) join(preset);
