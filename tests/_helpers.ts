// Test helpers: a hub served on 127.0.0.1 port 0, real WebSocket clients
// that collect what they receive, and raw TCP peers for misbehaviour.

import { Hub, type HubOptions } from "../mod.ts";

/** A hub served by Deno.serve on a free port. */
export interface Served<T, In> {
  hub: Hub<T, In>;
  server: Deno.HttpServer<Deno.NetAddr>;
  port: number;
  url: string;
  /** Closes the hub, then the server. */
  close(): Promise<void>;
}

/** Serves a new hub on 127.0.0.1:0 at /ws. */
export function serveHub<T = unknown, In = string | Uint8Array>(
  options: HubOptions<T, In> = {},
): Served<T, In> {
  const hub = new Hub<T, In>(options);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) => hub.upgrade(req),
  );
  const port = server.addr.port;
  return {
    hub,
    server,
    port,
    url: `ws://127.0.0.1:${port}/ws`,
    async close() {
      await hub.close();
      await server.shutdown();
    },
  };
}

/** Rejects after `ms` with a message; the timer is cleared when `promise` settles first. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves after `ms`. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until `condition()` holds, polling every 5 ms, for at most `ms`. */
export async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    }
    await delay(5);
  }
}

/**
 * Promises of a socket's open (rejected if it fails to open; the rejection is
 * handled, so a test that never awaits it does not crash) and of its close event.
 */
export function lifecycle(
  socket: WebSocket,
): { opened: Promise<void>; closed: Promise<CloseEvent> } {
  const opened = new Promise<void>((resolve, reject) => {
    socket.addEventListener("open", () => resolve(), { once: true });
    socket.addEventListener("error", () => reject(new Error("WebSocket failed to open")), {
      once: true,
    });
  });
  opened.catch(() => {});
  const closed = new Promise<CloseEvent>((resolve) => {
    socket.addEventListener("close", (event) => resolve(event), { once: true });
  });
  return { opened, closed };
}

/** A real WebSocket client that records every message and its close event. */
export class TestClient {
  readonly socket: WebSocket;
  readonly messages: (string | Uint8Array)[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<CloseEvent>;
  #waiters: (() => void)[] = [];

  constructor(url: string, protocols?: string | string[]) {
    this.socket = new WebSocket(url, protocols);
    this.socket.binaryType = "arraybuffer";
    ({ opened: this.opened, closed: this.closed } = lifecycle(this.socket));
    this.socket.addEventListener("message", (event) => {
      const data = event.data;
      this.messages.push(typeof data === "string" ? data : new Uint8Array(data as ArrayBuffer));
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const wake of waiters) wake();
    });
  }

  /** Opens a client and waits for the handshake. */
  static async open(url: string, protocols?: string | string[]): Promise<TestClient> {
    const client = new TestClient(url, protocols);
    await within(client.opened, 5000, "the WebSocket to open");
    return client;
  }

  /** Waits until at least `count` messages arrived. */
  async received(count: number, ms = 5000): Promise<(string | Uint8Array)[]> {
    const deadline = performance.now() + ms;
    while (this.messages.length < count) {
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new Error(`expected ${count} messages within ${ms} ms, got ${this.messages.length}`);
      }
      await within(new Promise<void>((resolve) => this.#waiters.push(resolve)), left, "messages")
        .catch(() => {});
    }
    return this.messages;
  }

  /**
   * Application messages only: on a wshub.v1 connection, drops hello and
   * ping frames, strips the tag and unpacks batches; on a plain one, all.
   */
  appMessages(): (string | Uint8Array)[] {
    if (this.socket.protocol !== "wshub.v1") return [...this.messages];
    const out: (string | Uint8Array)[] = [];
    for (const message of this.messages) {
      if (typeof message !== "string") {
        out.push(message.subarray(1));
      } else if (message[0] === "m") {
        out.push(message.slice(1));
      } else if (message[0] === "b") {
        out.push(...unbatch(message));
      }
    }
    return out;
  }

  /** Closes the socket and waits for the close event. */
  async close(code?: number, reason?: string): Promise<CloseEvent> {
    if (this.socket.readyState < WebSocket.CLOSING) this.socket.close(code, reason);
    return await within(this.closed, 5000, "the WebSocket to close");
  }
}

/** Splits a `b<len>:<text>…` frame into its messages. */
export function unbatch(frame: string): string[] {
  const out: string[] = [];
  let i = 1;
  while (i < frame.length) {
    const colon = frame.indexOf(":", i);
    const length = Number(frame.slice(i, colon));
    out.push(frame.slice(colon + 1, colon + 1 + length));
    i = colon + 1 + length;
  }
  return out;
}

/**
 * A raw TCP peer: completes the WebSocket handshake by hand, then does only
 * what the test tells it (for example, never read).
 */
export class RawPeer {
  readonly conn: Deno.TcpConn;
  readonly status: number;
  readonly headers: string;

  private constructor(conn: Deno.TcpConn, status: number, headers: string) {
    this.conn = conn;
    this.status = status;
    this.headers = headers;
  }

  /** Connects and sends an upgrade request with the given extra headers; reads the response head. */
  static async connect(
    port: number,
    extraHeaders: Record<string, string> = {},
    key = "dGhlIHNhbXBsZSBub25jZQ==",
  ): Promise<RawPeer> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const lines = [
      "GET /ws HTTP/1.1",
      `Host: 127.0.0.1:${port}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      `Sec-WebSocket-Key: ${key}`,
      "Sec-WebSocket-Version: 13",
      ...Object.entries(extraHeaders).map(([name, value]) => `${name}: ${value}`),
    ];
    await conn.write(new TextEncoder().encode(lines.join("\r\n") + "\r\n\r\n"));
    // Read the response head byte by byte-ish: up to the blank line, nothing more.
    const buffer = new Uint8Array(1);
    let head = "";
    while (!head.endsWith("\r\n\r\n")) {
      const n = await conn.read(buffer);
      if (n === null) break;
      head += String.fromCharCode(buffer[0]);
    }
    const status = Number(head.split(" ")[1]);
    return new RawPeer(conn, status, head);
  }

  /** Sends one masked frame (opcode 1 text, 2 binary, 8 close). */
  async sendFrame(opcode: number, payload: Uint8Array, fin = true): Promise<void> {
    await this.conn.write(maskedFrame(opcode, payload, fin));
  }

  /** Closes the TCP connection. */
  close(): void {
    try {
      this.conn.close();
    } catch {
      // already closed
    }
  }
}

/** Encodes one client-to-server frame (masked, as RFC 6455 requires). */
export function maskedFrame(opcode: number, payload: Uint8Array, fin = true): Uint8Array {
  const length = payload.byteLength;
  const headerLength = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const frame = new Uint8Array(headerLength + 4 + length);
  frame[0] = (fin ? 0x80 : 0) | opcode;
  if (length < 126) {
    frame[1] = 0x80 | length;
  } else if (length < 65536) {
    frame[1] = 0x80 | 126;
    frame[2] = length >> 8;
    frame[3] = length & 0xff;
  } else {
    frame[1] = 0x80 | 127;
    new DataView(frame.buffer).setBigUint64(2, BigInt(length));
  }
  const mask = crypto.getRandomValues(new Uint8Array(4));
  frame.set(mask, headerLength);
  for (let i = 0; i < length; i++) frame[headerLength + 4 + i] = payload[i] ^ mask[i & 3];
  return frame;
}
