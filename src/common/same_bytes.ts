/**
 * Comparing secrets without telling, by the time it takes, how much of a
 * guess was right.
 *
 * @module
 */

/**
 * Whether two byte strings are equal, in a time that depends on their
 * lengths only (every byte of the longer is looked at, whatever differs).
 * For comparing a credential someone sent with the expected one.
 */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  const length = Math.max(a.length, b.length);
  let difference = a.length ^ b.length;
  for (let i = 0; i < length; i++) difference |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return difference === 0;
}
