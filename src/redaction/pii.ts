/**
 * PII detection rules for structured identifiers: e-mail addresses, payment card numbers (Luhn),
 * IBANs (ISO 13616 mod-97, country lengths), US SSNs, IP addresses and phone numbers. Names and
 * street addresses are not detected (no dependable structure; see docs/redaction.md).
 * Order matters: at equal spans the earlier rule names the marker.
 */
import { ibanValid, luhnValid } from './checksums.js';
import { emailRule } from './email.js';
import { phoneRule } from './phone.js';
import { at, isAlnum, isDigit, isHex, regexRule, safeRegExp } from './regex.js';
import type { Rule } from './types.js';


function sameChar(s: string): boolean {
  for (let i = 1; i < s.length; i++) if (s[i] !== s[0]) return false;
  return true;
}

/**
 * Does the number start with an issuer prefix (IIN range) issued at this length? Visa 4 (13, 16,
 * 19), Mastercard 51–55 and 2221–2720 (16), Amex 34/37 (15), Diners 300–305/36/38/39 (14–19),
 * JCB 35xx (16–19) and 1800/2131 (15), Discover/UnionPay/Maestro 5x and 6x (12–19).
 * Public ranges (ISO/IEC 7812 registrations as the networks publish them); this keeps millisecond
 * timestamps (17…) and other long numbers that happen to pass Luhn out.
 */
function issuerLength(d: string): boolean {
  const n = d.length;
  const p2 = Number(d.slice(0, 2));
  const p4 = Number(d.slice(0, 4));
  switch (d[0]) {
    case '4':
      return n === 13 || n === 16 || n === 19;
    case '5':
      return p2 >= 51 && p2 <= 55 ? n === 16 : n >= 12;
    case '2':
      return (p4 >= 2221 && p4 <= 2720 && n === 16) || (p4 === 2131 && n === 15);
    case '3':
      if (p2 === 34 || p2 === 37) return n === 15;
      if ((p4 >= 3000 && p4 <= 3059) || p2 === 36 || p2 === 38 || p2 === 39) return n >= 14;
      // JCB is 3528–3589; generators (and some issuers' test ranges) use all of 35xx.
      return p2 === 35 && n >= 16;
    case '6':
      return n >= 12;
    case '1':
      return p4 === 1800 && n === 15;
    default:
      return false;
  }
}

/** A run of digits with single spaces or dashes between digits, from `i` (a digit): its end. */
function digitClusterEnd(text: string, i: number): number {
  const n = text.length;
  let e = i;
  for (;;) {
    while (e < n && isDigit(text.charCodeAt(e))) e++;
    const c = at(text, e);
    if ((c === 32 || c === 45) && isDigit(at(text, e + 1))) e++;
    else return e;
  }
}

function cardSpan(text: string, s: number, e: number): boolean {
  if (isAlnum(at(text, s - 1)) || isAlnum(at(text, e))) return false;
  const raw = text.slice(s, e);
  const digits = raw.replace(/[ -]/g, '');
  if (digits.length < 12 || digits.length > 19) return false;
  if (sameChar(digits) || !issuerLength(digits) || !luhnValid(digits)) return false;
  // Grouped numbers use one kind of separator, in groups of 3 to 6 digits (4-4-4-4, 4-6-5, …).
  if (digits.length !== raw.length) {
    if (raw.includes(' ') && raw.includes('-')) return false;
    if (raw.split(/[ -]/).some((g) => g.length < 3 || g.length > 6)) return false;
  }
  return true;
}

/** Payment card numbers (PAN): 12–19 digits passing the issuer-prefix and Luhn checks. ISO/IEC 7812. Hand-scanned. */
const creditCardRule: Rule = {
  name: 'credit-card',
  kind: 'pii',
  mayMatch: (_t, f) => f.clusterDigits >= 12,
  find(text, out) {
    const n = text.length;
    let i = 0;
    while (i < n) {
      if (!isDigit(text.charCodeAt(i))) {
        i++;
        continue;
      }
      const e = digitClusterEnd(text, i);
      if (cardSpan(text, i, e)) out.push({ start: i, end: e, rule: 'credit-card', kind: 'pii' });
      i = e;
    }
  },
};

// US SSN: AAA-GG-SSSS; area 000, 666 and 900–999, group 00 and serial 0000 are never issued.
// https://www.ssa.gov/employer/randomization.html
const SSN_RE = safeRegExp('[0-9]{3}-[0-9]{2}-[0-9]{4}');
const SSN_SPACED_RE = safeRegExp('[0-9]{3} [0-9]{2} [0-9]{4}');

function ssnValid(d: string): boolean {
  const area = d.slice(0, 3);
  return area !== '000' && area !== '666' && area[0] !== '9' && d.slice(4, 6) !== '00' && d.slice(7) !== '0000';
}

const usSsnRule = regexRule({
  name: 'us-ssn',
  kind: 'pii',
  mayMatch: (_t, f) => f.clusterDigits >= 9,
  re: SSN_RE,
  check(m, text) {
    const s = m.index;
    const e = s + 9 + 2;
    if (isAlnum(at(text, s - 1)) || isAlnum(at(text, e)) || at(text, s - 1) === 45 || (at(text, e) === 45 && isDigit(at(text, e + 1)))) return undefined;
    return ssnValid(m[0]) ? [s, e] : undefined;
  },
});

// The same number with spaces only counts next to the words "SSN" or "social security".
const usSsnSpacedRule = regexRule({
  name: 'us-ssn',
  kind: 'pii',
  keywords: ['ssn', 'SSN', 'Ssn', 'social security', 'Social Security', 'Social security', 'SOCIAL SECURITY'],
  mayMatch: (_t, f) => f.clusterDigits >= 9,
  re: SSN_SPACED_RE,
  check(m, text) {
    const s = m.index;
    const e = s + 11;
    if (isAlnum(at(text, s - 1)) || isAlnum(at(text, e))) return undefined;
    const before = text.slice(Math.max(0, s - 40), s).toLowerCase();
    if (!before.includes('ssn') && !before.includes('social security')) return undefined;
    return ssnValid(m[0].replace(/ /g, '-')) ? [s, e] : undefined;
  },
});

// IBAN lengths by country (SWIFT IBAN registry).
const IBAN_LENGTH: Record<string, number> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BR: 29, BY: 28, CH: 21, CR: 22, CY: 28, CZ: 24,
  DE: 22, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18, FO: 18, FR: 27, GB: 22, GE: 22, GI: 23, GL: 18, GR: 27, GT: 28,
  HR: 21, HU: 28, IE: 22, IL: 23, IQ: 23, IS: 26, IT: 27, JO: 30, KW: 30, KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20, LU: 20,
  LV: 21, MC: 27, MD: 24, ME: 22, MK: 19, MR: 27, MT: 31, MU: 30, NL: 18, NO: 15, PK: 24, PL: 28, PS: 29, PT: 25, QA: 29,
  RO: 24, RS: 22, SA: 24, SC: 31, SE: 24, SI: 19, SK: 24, SM: 27, ST: 25, SV: 28, TL: 23, TN: 24, TR: 26, UA: 29, VA: 22,
  VG: 24, XK: 20,
};

// Country code + check digits, then the BBAN either unbroken or in groups of four.
const IBAN_RE = safeRegExp('[A-Za-z]{2}[0-9]{2}[A-Za-z0-9 ]{11,42}');

function ibanShape(m: string): string | undefined {
  const rest = m.slice(4);
  if (rest[0] !== ' ') {
    const sp = rest.indexOf(' ');
    return sp === -1 ? m : m.slice(0, 4 + sp);
  }
  // ` XXXX XXXX … X`: keep whole groups of four, then one shorter final group.
  let k = 0;
  while (k + 5 <= rest.length && rest[k] === ' ' && !rest.slice(k + 1, k + 5).includes(' ')) k += 5;
  if (k < rest.length && rest[k] === ' ') {
    let j = k + 1;
    while (j < rest.length && j - k <= 4 && rest[j] !== ' ') j++;
    if (j > k + 1) k = j;
  }
  return k === 0 ? undefined : m.slice(0, 4 + k);
}

const ibanRule = regexRule({
  name: 'iban',
  kind: 'pii',
  mayMatch: (_t, f) => f.ibanStart,
  re: IBAN_RE,
  retryInside: true,
  check(m, text) {
    const s = m.index;
    if (isAlnum(at(text, s - 1))) return undefined;
    const want = IBAN_LENGTH[m[0].slice(0, 2).toUpperCase()];
    if (want === undefined) return undefined;
    // Try the longest candidate first, shortening at group (or character) boundaries.
    // The BBAN: unbroken, or groups of four separated by single spaces (the last group 1–4).
    const raw = ibanShape(m[0]);
    if (raw === undefined) return undefined;
    const spaced = raw.includes(' ');
    let len = raw.length;
    while (len > 0) {
      const cand = raw.slice(0, len);
      const compact = cand.replace(/ /g, '');
      if (compact.length === want && !isAlnum(at(text, s + len)) && ibanValid(compact)) return [s, s + len];
      if (compact.length < want) break;
      len = spaced ? cand.lastIndexOf(' ') : len - 1;
    }
    return undefined;
  },
});

// IPv4: four dotted octets 0–255.
const IPV4_RE = safeRegExp('[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}');

const ipv4Rule = regexRule({
  name: 'ip-address',
  kind: 'pii',
  mayMatch: (_t, f) => f.dottedDigits,
  re: IPV4_RE,
  check(m, text) {
    const s = m.index;
    const e = s + m[0].length;
    const before = at(text, s - 1);
    if (isAlnum(before) || (before === 46 && isDigit(at(text, s - 2)))) return undefined;
    if (isAlnum(at(text, e)) || (at(text, e) === 46 && isDigit(at(text, e + 1)))) return undefined;
    return m[0].split('.').every((o) => Number(o) <= 255) ? [s, e] : undefined;
  },
});

// IPv6: a maximal run of hex digits and colons, validated by hand below (hand-scanned: the
// linear RegExp engine costs ~0.3 µs per character here, this loop a few ns).
const MAX_IPV6 = 45;

function isHexOrColon(c: number): boolean {
  return isHex(c) || c === 58;
}

function ipv6Valid(s: string): boolean {
  const double = s.indexOf('::');
  if (double !== s.lastIndexOf('::') && double !== -1) return false;
  if (s.includes(':::')) return false;
  const groups = s.split(':');
  if (groups.some((g) => g.length > 4)) return false;
  if (double === -1) return groups.length === 8 && groups.every((g) => g.length >= 1);
  const filled = groups.filter((g) => g.length > 0).length;
  const colons = groups.length - 1;
  return colons >= 2 && colons <= 7 && filled >= 2 && filled <= 7 && (s.startsWith('::') || !s.startsWith(':')) && (s.endsWith('::') || !s.endsWith(':'));
}

const ipv6Rule: Rule = {
  name: 'ip-address',
  kind: 'pii',
  // Full form has 7 colons; every compressed form has `::` (times like 03:12:45 have neither).
  mayMatch: (t, f) => f.hexColons >= 7 || (f.hexColons >= 2 && t.includes('::')),
  find(text, out) {
    const n = text.length;
    let i = 0;
    while (i < n) {
      if (!isHexOrColon(text.charCodeAt(i))) {
        i++;
        continue;
      }
      let e = i;
      let colons = 0;
      while (e < n && isHexOrColon(text.charCodeAt(e))) {
        if (text.charCodeAt(e) === 58) colons++;
        e++;
      }
      if (colons >= 2 && e - i <= MAX_IPV6 && !isAlnum(at(text, i - 1)) && !isAlnum(at(text, e)) && ipv6Valid(text.slice(i, e))) {
        out.push({ start: i, end: e, rule: 'ip-address', kind: 'pii' });
      }
      i = e;
    }
  },
};

export const PII_RULES: readonly Rule[] = [emailRule, creditCardRule, ibanRule, usSsnRule, usSsnSpacedRule, ipv4Rule, ipv6Rule, phoneRule];
