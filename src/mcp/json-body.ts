/**
 * Request-body JSON parsing with a nesting-depth cap (security-checklist.md C3). The depth is
 * measured by one linear scan of the bytes before JSON.parse runs, so a hostile body such as
 * `[[[[…]]]]` is refused without building (or later recursing over) a deep value.
 */

export type JsonBodyResult =
  | { ok: true; value: unknown }
  | { ok: false; code: 'ERR_PARSE' | 'ERR_JSON_TOO_DEEP'; message: string };

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Deepest `[`/`{` nesting in `buf` from `start`, skipping string contents (and their escapes).
 * Stops early once `limit` is exceeded. Exact for valid JSON; for invalid JSON the number is
 * meaningless but JSON.parse rejects the body anyway.
 */
export function jsonDepth(buf: Uint8Array, start = 0, limit = Infinity): number {
  let depth = 0;
  let max = 0;
  const len = buf.length;
  let i = start;
  while (i < len) {
    const b = buf[i]!;
    if (b === QUOTE) {
      // Jump to the closing quote: the next quote preceded by an even run of backslashes. Each
      // backslash run is counted once, so this stays linear.
      let j = i + 1;
      for (;;) {
        const q = buf.indexOf(QUOTE, j);
        if (q === -1) return max; // unterminated string: invalid JSON
        let k = q - 1;
        while (k > i && buf[k] === BACKSLASH) k--;
        if ((q - 1 - k) % 2 === 0) {
          i = q + 1;
          break;
        }
        j = q + 1;
      }
      continue;
    }
    if (b === OPEN_BRACKET || b === OPEN_BRACE) {
      if (++depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (b === CLOSE_BRACKET || b === CLOSE_BRACE) {
      depth--;
    }
    i++;
  }
  return max;
}

/**
 * Parses a request body as UTF-8 JSON. A leading UTF-8 BOM is accepted and skipped. Never throws:
 * nesting deeper than `maxDepth` (`{}` and `[]` count 1, scalars 0) → `ERR_JSON_TOO_DEEP`; empty,
 * invalid UTF-8 or invalid JSON → `ERR_PARSE`. Messages never quote the body (it may hold secrets).
 */
export function parseJsonBody(buf: Buffer, maxDepth: number): JsonBodyResult {
  const start = buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf ? 3 : 0;
  if (jsonDepth(buf, start, maxDepth) > maxDepth) {
    return { ok: false, code: 'ERR_JSON_TOO_DEEP', message: `JSON nesting deeper than ${maxDepth}` };
  }
  let text: string;
  try {
    text = utf8.decode(start === 0 ? buf : buf.subarray(start));
  } catch {
    return { ok: false, code: 'ERR_PARSE', message: 'Parse error: body is not valid UTF-8' };
  }
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false, code: 'ERR_PARSE', message: 'Parse error: body is not valid JSON' };
  }
}
