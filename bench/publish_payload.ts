/**
 * The payloads of the publish scenario (bench/publish_scenario.ts), made by every publisher (the
 * hub process, the emitter, the HTTP API client) and read by the subscribers: `<seq>:<send
 * time>:x…`, exactly `size` ASCII bytes, the send time in ms since the epoch with decimals
 * (`performance.timeOrigin + performance.now()`: one clock for every process of the machine).
 *
 * @module
 */

/** The payload of message `seq`, stamped now. */
export function payload(seq: number, size: number): string {
  const head = `${seq}:${(performance.timeOrigin + performance.now()).toFixed(3)}:`;
  return head + "x".repeat(Math.max(0, size - head.length));
}

/** The sequence number and send time of a payload, or `undefined` if it is not one. */
export function parsePayload(text: string): { seq: number; sentAt: number } | undefined {
  const first = text.indexOf(":");
  const second = text.indexOf(":", first + 1);
  if (first < 1 || second < 0) return undefined;
  const seq = Number(text.slice(0, first));
  const sentAt = Number(text.slice(first + 1, second));
  return Number.isInteger(seq) && Number.isFinite(sentAt) ? { seq, sentAt } : undefined;
}
