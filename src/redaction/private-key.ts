/**
 * PEM / OpenSSH private keys: `-----BEGIN … PRIVATE KEY-----` through the matching END line
 * (RFC 7468; the OpenSSH and PGP armours use the same shape). Also found inside JSON strings,
 * where the newlines are `\n` escapes. Placeholders (`...`, `xxx`, `***`, a short body) are not
 * keys. A BEGIN line without an END is masked up to the end of its base64 body.
 */
import { isBase64 } from './regex.js';
import type { Rule, Span } from './types.js';

const BEGIN = '-----BEGIN ';
const END = '-----END ';
const DASHES = '-----';
/** Longest label (`OPENSSH PRIVATE KEY`, `ENCRYPTED PRIVATE KEY`, `PGP PRIVATE KEY BLOCK`, …). */
const MAX_LABEL = 40;
/** Longest key body looked at (an RSA-16384 key is about 12 KiB). */
const MAX_BODY = 32_768;
/** Fewer base64 characters than this is a placeholder, not a key. */
const MIN_BODY_CHARS = 64;

/** End of the `-----` that closes a label starting at `from`, or -1. */
function labelEnd(text: string, from: number): number {
  const close = text.indexOf(DASHES, from);
  return close === -1 || close - from > MAX_LABEL ? -1 : close + DASHES.length;
}

function bodyChars(text: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    // `\n` escapes inside a JSON string: the `n` is not key material.
    if (c === 92) {
      i++;
      continue;
    }
    if (isBase64(c) && c !== 45) n++;
  }
  return n;
}

function isLabelChar(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 32;
}

function isBodyChar(c: number): boolean {
  return isBase64(c) || c === 10 || c === 13 || c === 32 || c === 9 || c === 92 || c === 58 || c === 44;
}

export const privateKeyRule: Rule = {
  name: 'private-key',
  kind: 'secret',
  keywords: ['PRIVATE KEY'],
  find(text, out: Span[]) {
    let from = 0;
    // Where the next END line is, cached so that many BEGINs cost one search.
    let endAt = -2;
    for (let b = text.indexOf(BEGIN, from); b !== -1; b = text.indexOf(BEGIN, from)) {
      const le = labelEnd(text, b + BEGIN.length);
      from = b + BEGIN.length;
      if (le === -1) continue;
      const label = text.slice(b + BEGIN.length, le - DASHES.length);
      if (!label.includes('PRIVATE KEY')) continue;
      if (endAt !== -1 && endAt < le) endAt = text.indexOf(END, le);
      let stop: number;
      if (endAt !== -1 && endAt - le <= MAX_BODY) {
        // The END label and its dashes (some fixtures close with four dashes only).
        stop = endAt + END.length;
        const labelStop = Math.min(text.length, stop + MAX_LABEL);
        while (stop < labelStop && isLabelChar(text.charCodeAt(stop))) stop++;
        while (stop < labelStop && text.charCodeAt(stop) === 45) stop++;
        if (bodyChars(text, le, endAt) < MIN_BODY_CHARS) {
          from = stop;
          continue;
        }
      } else {
        // No END line: mask the base64 body that follows, if it is long enough to be a key.
        stop = le;
        const limit = Math.min(text.length, le + MAX_BODY);
        while (stop < limit && isBodyChar(text.charCodeAt(stop))) stop++;
        if (bodyChars(text, le, stop) < MIN_BODY_CHARS) continue;
      }
      out.push({ start: b, end: stop, rule: 'private-key', kind: 'secret' });
      from = Math.max(from, stop);
    }
  },
};
