/**
 * The JSON objects inside frames (hello, notices, join and leave requests
 * and answers, presence events, request failures): parsed in one place, with
 * one way of saying what is wrong.
 *
 * @module
 */

/**
 * Parses `body` as a JSON object. Returns a sentence saying what is wrong
 * (`<what> is not JSON`, `<what> is not a JSON object`) otherwise.
 */
export function parseJsonObject(body: string, what: string): Record<string, unknown> | string {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return `${what} is not JSON`;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return `${what} is not a JSON object`;
  }
  return value as Record<string, unknown>;
}
