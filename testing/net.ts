/**
 * Ports on 127.0.0.1, for tests and benchmarks that start servers: one that
 * is free, and whether one accepts connections yet. Not part of the
 * published package.
 *
 * @module
 */

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/** Whether something on 127.0.0.1 accepts a TCP connection on `port` now (the connection is closed at once). */
export async function accepting(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}
