/**
 * E-mail addresses (RFC 5321 shapes, the common subset): local part of [A-Za-z0-9._%+-] up to 64
 * characters, `@`, a dotted domain whose last label is 2+ letters. Hand-scanned around each `@`.
 */
import { isAlnum, isLetter } from './regex.js';
import type { Rule, Span } from './types.js';

const MAX_LOCAL = 64;
const MAX_DOMAIN = 253;

function isLocalChar(c: number): boolean {
  return isAlnum(c) || c === 46 || c === 95 || c === 37 || c === 43 || c === 45;
}
function isDomainChar(c: number): boolean {
  return isAlnum(c) || c === 46 || c === 45;
}

export const emailRule: Rule = {
  name: 'email',
  kind: 'pii',
  mayMatch: (text) => text.includes('@'),
  find(text, out: Span[]) {
    let done = 0;
    for (let i = text.indexOf('@'); i !== -1; i = text.indexOf('@', i + 1)) {
      let s = i;
      const stop = Math.max(done, i - MAX_LOCAL);
      while (s > stop && isLocalChar(text.charCodeAt(s - 1))) s--;
      while (s < i && text.charCodeAt(s) === 46) s++;
      if (s === i) continue;
      let e = i + 1;
      const limit = Math.min(text.length, i + 1 + MAX_DOMAIN);
      while (e < limit && isDomainChar(text.charCodeAt(e))) e++;
      while (e > i + 1 && (text.charCodeAt(e - 1) === 46 || text.charCodeAt(e - 1) === 45)) e--;
      const domain = text.slice(i + 1, e);
      const dot = domain.lastIndexOf('.');
      if (dot <= 0) continue;
      const tld = domain.slice(dot + 1);
      let ok = tld.length >= 2;
      for (let k = 0; ok && k < tld.length; k++) ok = isLetter(tld.charCodeAt(k));
      if (!ok || domain.includes('..')) continue;
      out.push({ start: s, end: e, rule: 'email', kind: 'pii' });
      done = e;
    }
  },
};
