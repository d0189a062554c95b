/**
 * Catching typos in options objects at run time (`deno run` does not type
 * check): an option name that is not one of the known ones is refused with
 * an error that names the closest known name. Shared by the hub, the
 * client, the backplanes and every nested options object.
 *
 * @module
 */

/**
 * Throws a `TypeError` when `options` has a key that is not in `known`,
 * naming the closest known one. `what` says whose options they are, as the
 * message should read: `"hub option"`, `"rateLimit option"`,
 * `"RedisBackplane option"`.
 *
 * @example
 * ```ts
 * import { assertKnownOptions } from "./unknown_options.ts";
 *
 * assertKnownOptions("hub option", { pingInterval: 1000 }, ["pingInterval", "pongTimeout"]);
 * ```
 */
export function assertKnownOptions(
  what: string,
  options: object,
  known: readonly string[],
): void {
  for (const name of Object.keys(options)) {
    if (known.includes(name)) continue;
    const closest = closestName(name, known);
    throw new TypeError(
      `Unknown ${what} ${JSON.stringify(name)}` +
        (closest === undefined ? "." : `; did you mean ${closest}?`) +
        ` Known: ${[...known].sort().join(", ")}`,
    );
  }
}

/**
 * The known name closest to `name` (edit distance, case-insensitive), if
 * one is close enough to be a likely typo.
 */
export function closestName(name: string, known: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const distance = editDistance(lower, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  // A typo: a few edits, and fewer than half the name (so "uri" → "url", not "x" → "id").
  const limit = Math.max(1, Math.min(3, Math.floor(name.length / 2)));
  return bestDistance <= limit ? best : undefined;
}

/** Levenshtein distance, with an adjacent swap counting as one edit (row by row). */
function editDistance(a: string, b: string): number {
  let before: number[] = []; // the row above `above`
  let above = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        above[j] + 1,
        row[j - 1] + 1,
        above[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        row[j] = Math.min(row[j], before[j - 2] + 1);
      }
    }
    before = above;
    above = row;
  }
  return above[b.length];
}
