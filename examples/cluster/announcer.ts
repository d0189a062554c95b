/**
 * A job worker of the chat cluster: it runs no hub and holds no socket, and says the time in a
 * channel every few seconds through a `RedisEmitter`, which every hub process delivers to the
 * channel's members as if a hub had published it (with the next offset in the channel's history:
 * a page that was away catches up on it too). examples/cluster/main.ts starts it beside the hub
 * workers.
 *
 * ```sh
 * deno run --allow-net --allow-read --allow-env examples/cluster/announcer.ts \
 *   '{"redis":"redis://127.0.0.1:6379","every":10000,"room":"#general"}'
 * ```
 *
 * Prints one line of JSON once connected to Redis (`{"announcer":true,…}`), then a line per
 * announcement that could not be made (Redis down: the emitter says so, and the next one is
 * tried on time). Stops on SIGINT, SIGTERM, or when its stdin closes.
 *
 * @module
 */

import { RedisEmitter } from "../../src/redis/mod.ts";
import { chatHistory } from "../chat/main.ts";
import type { ChatEvent } from "../chat/messages.ts";

/** What the supervisor passes, as JSON in the first argument. */
export interface AnnouncerConfig {
  /** The Redis server the hub workers share. */
  redis: string;
  /** Their `RedisBackplane` prefix; its default when absent. */
  prefix?: string;
  /** How often to announce, in ms. */
  every: number;
  /** The channel to announce in. */
  room: string;
}

const config = JSON.parse(Deno.args[0] ?? "null") as AnnouncerConfig;
if (typeof config?.redis !== "string" || !(config.every > 0) || typeof config.room !== "string") {
  console.error("usage: announcer.ts '<json config>' (examples/cluster/main.ts starts it)");
  Deno.exit(2);
}

// The hubs' own history option: the channel's announcements get offsets in its stream.
const emitter = new RedisEmitter<ChatEvent>({
  url: config.redis,
  prefix: config.prefix,
  history: chatHistory,
  onStatus(status, error) {
    if (status !== "up") console.error(`Redis ${status}${error ? ` (${error.message})` : ""}`);
  },
});

async function announce(): Promise<void> {
  const now = new Date();
  const time = now.toLocaleTimeString("en-GB", { timeZone: "UTC", hour12: false });
  try {
    await emitter.publish(config.room, {
      type: "message",
      from: "clock",
      text: `It is ${time} UTC.`,
      at: now.getTime(),
    });
  } catch (error) {
    console.error(`not announced at ${time}: ${(error as Error).message}`);
  }
}

const timer = setInterval(() => void announce(), config.every);
let stopping: Promise<void> | undefined;
const stop = () =>
  stopping ??= (async () => {
    clearInterval(timer);
    await emitter.close();
    Deno.exit(0);
  })();
for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(signal, stop);
(async () => {
  for await (const _ of Deno.stdin.readable) { /* until the supervisor goes */ }
  await stop();
})();

await emitter.ready({ signal: AbortSignal.timeout(3_000) }).catch(() => {});
console.log(JSON.stringify({
  announcer: true,
  pid: Deno.pid,
  room: config.room,
  every: config.every,
  redis: emitter.status,
}));
