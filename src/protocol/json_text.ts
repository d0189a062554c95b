/**
 * The JSON text of an application value that is sent, with one way of
 * saying why a value cannot be sent. Shared by the hub's payloads and the
 * client's messages.
 *
 * @module
 */

/**
 * `JSON.stringify(data)`, or a `TypeError` saying why `data` cannot be sent.
 *
 * @throws {TypeError} If the value cannot be JSON-encoded (a cycle, a BigInt)
 * or encodes to nothing (`undefined`, a function).
 */
export function encodeJson(data: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(data);
  } catch (error) {
    throw new TypeError(
      `Cannot send this message: JSON.stringify failed (${(error as Error).message}); ` +
        "send a string, a Uint8Array or a JSON-serialisable value",
    );
  }
  if (json === undefined) {
    throw new TypeError(
      `Cannot send this message: ${describe(data)} has no JSON form; ` +
        "send a string, a Uint8Array or a JSON-serialisable value",
    );
  }
  return json;
}

/** A value with no JSON form, as a message names it: "undefined", "a function", "a symbol". */
function describe(data: unknown): string {
  return data === undefined ? "undefined" : `a ${typeof data}`;
}
