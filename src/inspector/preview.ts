/**
 * Previews of what was published: the start of a text, or the size of
 * bytes. A preview never holds on to the message it comes from.
 *
 * @module
 */

/** Characters of a text a preview keeps. */
export const PREVIEW_LENGTH = 200;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The preview of a publication's data: a string's start, a value's JSON's
 * start, or only the size of bytes.
 */
export function preview(data: unknown): { preview?: string; size: number } {
  if (data instanceof Uint8Array) return { size: data.byteLength };
  let text: string;
  if (typeof data === "string") text = data;
  else {
    try {
      text = JSON.stringify(data) ?? String(data);
    } catch {
      text = String(data);
    }
  }
  if (text.length <= PREVIEW_LENGTH) return { preview: text, size: text.length };
  // A slice of a long string may keep the whole string alive (V8 slices share their parent):
  // copy the start, so that a preview never retains a large message.
  const start = decoder.decode(encoder.encode(text.slice(0, PREVIEW_LENGTH)));
  return { preview: `${start}…`, size: text.length };
}
