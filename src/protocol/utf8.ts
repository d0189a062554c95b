/**
 * UTF-8 sizes of JavaScript strings, computed without encoding them.
 *
 * @module
 */

/** Any character outside ASCII. */
const NON_ASCII = /[\u0080-\uffff]/;

/**
 * The number of bytes `text` takes in UTF-8, without encoding it. A lone
 * surrogate counts 3 bytes, as its replacement character does on the wire.
 */
export function utf8Length(text: string): number {
  // ASCII up to the first other character is one byte each. Past a few
  // dozen characters the regular expression finds that character 2–3 times
  // faster than a loop of charCodeAt (a 128-byte message sliced from its
  // frame: 0.12 µs instead of 0.39); on short strings the loop is faster.
  const length = text.length;
  const first = length < 32 ? 0 : text.search(NON_ASCII);
  if (first === -1) return length;
  let bytes = length;
  for (let i = first; i < length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) continue;
    if (code < 0x800) {
      bytes += 1;
    } else if (code >= 0xd800 && code <= 0xdbff && i + 1 < length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 2; // 4 bytes for 2 code units
        i++;
      } else {
        bytes += 2;
      }
    } else {
      bytes += 2;
    }
  }
  return bytes;
}
