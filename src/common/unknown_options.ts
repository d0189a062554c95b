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

/** Levenshtein distance, with an adjacent swap counting as one edit. */
function editDistance(a: string, b: string): number {
  const rows = a.length + 1, cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) => {
    const row = new Array<number>(cols).fill(0);
    row[0] = i;
    return row;
  });
  for (let j = 0; j < cols; j++) d[0][j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}
