/**
 * Reading a JSON request body for the HTTP API, strictly: JSON only (415
 * otherwise), at most a given number of bytes (413 past it, without reading
 * more than that), valid UTF-8 and valid JSON (400), an object whose fields
 * are all known (400).
 *
 * @module
 */

import { ApiError } from "./api_error.ts";

const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * The body of `req` as a JSON object, read up to `maxBytes` bytes. `fields`
 * are the names it may have.
 *
 * @throws {ApiError} 415 without a JSON content type, 413 past `maxBytes`,
 * 400 for a body that is not a JSON object of known fields.
 *
 * @example
 * ```ts
 * import { readJsonObject } from "./request_body.ts";
 *
 * const req = new Request("http://x/", {
 *   method: "POST",
 *   headers: { "content-type": "application/json" },
 *   body: '{"room":"news","data":"hi"}',
 * });
 * console.log(await readJsonObject(req, 1024, ["room", "data"])); // { room: "news", data: "hi" }
 * ```
 */
export async function readJsonObject(
  req: Request,
  maxBytes: number,
  fields: readonly string[],
): Promise<Record<string, unknown>> {
  const type = req.headers.get("content-type")?.split(";")[0].trim().toLowerCase();
  if (type !== "application/json") {
    await req.body?.cancel().catch(() => {});
    throw new ApiError(415, "send the body as JSON, with Content-Type: application/json");
  }
  const bytes = await readBytes(req, maxBytes);
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes));
  } catch (error) {
    throw new ApiError(
      400,
      error instanceof SyntaxError
        ? `the body is not valid JSON (${error.message})`
        : "the body is not valid UTF-8",
    );
  }
  return objectOf(value, fields, "the body");
}

/**
 * `value` as a JSON object whose fields are all among `fields`: a request's
 * body, or one command of a batch (`what` names it in the messages).
 *
 * @throws {ApiError} 400 for anything else, naming an unknown field.
 *
 * @example
 * ```ts
 * import { objectOf } from "./request_body.ts";
 *
 * console.log(objectOf({ data: 1 }, ["data"], "broadcast")); // { data: 1 }
 * ```
 */
export function objectOf(
  value: unknown,
  fields: readonly string[],
  what: string,
): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ApiError(400, `${what} must be a JSON object with ${fields.join(", ")}`);
  }
  for (const name of Object.keys(value)) {
    if (!fields.includes(name)) {
      throw new ApiError(400, `unknown field ${JSON.stringify(name)}; known: ${fields.join(", ")}`);
    }
  }
  return value as Record<string, unknown>;
}

/** The body's bytes; past `maxBytes`, the rest is not read (413). */
async function readBytes(req: Request, maxBytes: number): Promise<Uint8Array> {
  const tooLarge = () => new ApiError(413, `the body is larger than ${maxBytes} bytes`);
  const declared = Number(req.headers.get("content-length") ?? NaN);
  if (declared > maxBytes) {
    await req.body?.cancel().catch(() => {});
    throw tooLarge();
  }
  if (req.body === null) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = req.body.getReader();
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) throw tooLarge();
      chunks.push(value);
    }
  } catch (error) {
    await reader.cancel().catch(() => {});
    if (error instanceof ApiError) throw error;
    throw new ApiError(400, "the body could not be read to its end");
  } finally {
    reader.releaseLock();
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  return bytes;
}
