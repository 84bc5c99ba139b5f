/**
 * Phone numbers, international and national formats: an optional `+<country code>`, an optional
 * `(area)` / `(0)`, then digit groups separated by single spaces, dashes or dots; 7 to 15 digits
 * in all (ITU-T E.164 allows at most 15). To keep precision, a number written without any
 * separator needs 10+ digits and a phone word nearby; dates, IPv4-like and decimal numbers are not
 * phone numbers, and two bare groups need a phone word or a 4+ digit last group with no word after
 * (postcodes like 75534-030, house + street numbers like "17151 2450 Crown St").
 * Hand-scanned: each candidate is parsed once, left to right, and scanning resumes after it.
 */
import { at, isAlnum, isDigit } from './regex.js';
import type { Rule, Span } from './types.js';

const PHONE_WORDS = ['phone', 'tel', 'call', 'fax', 'mobile', 'cell', 'office', 'contact', 'sms', 'whatsapp', 'number', 'home', 'work', 'messag', 'answer', 'reach', 'dial', 'ring'];
/** Longest digit group and most groups parsed in one candidate. */
const MAX_GROUP = 15;
const MAX_GROUPS = 8;

function nearPhoneWord(text: string, s: number, e: number): boolean {
  const around = (text.slice(Math.max(0, s - 40), s) + ' ' + text.slice(e, e + 20)).toLowerCase();
  return PHONE_WORDS.some((w) => around.includes(w));
}

function followedByWord(text: string, e: number): boolean {
  let i = e;
  while (i < text.length && i - e < 4 && (text.charCodeAt(i) === 32 || text.charCodeAt(i) === 9)) i++;
  return i > e && isAlnum(at(text, i));
}

function isSep(c: number): boolean {
  return c === 32 || c === 45 || c === 46;
}

interface Candidate {
  end: number;
  groups: string[];
  plus: boolean;
  paren: boolean;
  seps: string;
}

/** End of the digits at `from` (at most `max`). */
function digitsAt(text: string, from: number, max: number): number {
  let j = from;
  while (j < text.length && j - from < max) {
    const c = text.charCodeAt(j);
    if (c < 48 || c > 57) break;
    j++;
  }
  return j;
}

/** Parses `[+cc sep] [(area) sep] digits (sep digits)*` at `s`; undefined when no digits follow. */
function parse(text: string, s: number): Candidate | undefined {
  let i = s;
  const groups: string[] = [];
  let seps = '';
  let plus = false;
  let paren = false;
  if (text.charCodeAt(i) === 43) {
    const e = digitsAt(text, i + 1, 3);
    if (e === i + 1) return undefined;
    groups.push(text.slice(i + 1, e));
    plus = true;
    i = e;
    if (isSep(text.charCodeAt(i)) && (isDigit(at(text, i + 1)) || text.charCodeAt(i + 1) === 40)) seps += text[i++];
  }
  if (text.charCodeAt(i) === 40) {
    const e = digitsAt(text, i + 1, 4);
    if (e > i + 1 && text.charCodeAt(e) === 41) {
      groups.push(text.slice(i + 1, e));
      paren = true;
      i = e + 1;
      if (isSep(text.charCodeAt(i)) && isDigit(at(text, i + 1))) seps += text[i++];
    } else if (!plus) return undefined;
  }
  let e = digitsAt(text, i, MAX_GROUP + 1);
  if (e === i) return undefined;
  groups.push(text.slice(i, e));
  while (groups.length < MAX_GROUPS && isSep(at(text, e)) && isDigit(at(text, e + 1))) {
    const g = digitsAt(text, e + 1, MAX_GROUP + 1);
    seps += text[e];
    groups.push(text.slice(e + 1, g));
    e = g;
  }
  return { end: e, groups, plus, paren, seps };
}

function accept(text: string, s: number, c: Candidate): boolean {
  const e = c.end;
  const raw = text.slice(s, e);
  const before = at(text, s - 1);
  const after = at(text, e);
  if (isAlnum(before) || before === 46 || before === 95 || before === 47 || before === 43 || (before === 45 && isDigit(at(text, s - 2)))) return false;
  if (isAlnum(after) || after === 95 || after === 47 || ((after === 46 || after === 45 || after === 58 || after === 44) && isDigit(at(text, e + 1)))) return false;
  let n = 0;
  for (const g of c.groups) n += g.length;
  if (n < 7 || n > 15) return false;
  const { groups } = c;
  const plain = !c.plus && !c.paren;
  if (plain) {
    // Dates (2024-01-31, 31.01.2024), dotted quads (IPv4, versions), decimals (3.14159265).
    const lens = groups.map((g) => g.length).join('-');
    if (groups.length === 3 && (lens === '4-2-2' || lens === '2-2-4') && !c.seps.includes(' ')) return false;
    if (c.seps.includes('.') && !c.seps.includes(' ') && !c.seps.includes('-') && (groups.length === 2 || (groups.length === 4 && groups.every((g) => g.length <= 3)))) return false;
    // 1.000.000 (dotted thousands groups) unless the context says phone.
    if (c.seps.includes('.') && groups.length >= 3 && groups.slice(1).every((g) => g.length === 3) && groups[0]!.length <= 3 && !nearPhoneWord(text, s, e)) return false;
    if (groups.length === 2 && !nearPhoneWord(text, s, e) && (groups[1]!.length <= 3 || followedByWord(text, e))) return false;
    if (groups.length === 1 && (n < 10 || !nearPhoneWord(text, s, e))) return false;
  }
  return raw.length > 0;
}

export const phoneRule: Rule = {
  name: 'phone-number',
  kind: 'pii',
  mayMatch: (_t, f) => f.clusterDigits >= 7,
  find(text, out: Span[]) {
    const n = text.length;
    let i = 0;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (!((c >= 48 && c <= 57) || c === 43 || c === 40)) {
        i++;
        continue;
      }
      const cand = parse(text, i);
      if (!cand) {
        i++;
        continue;
      }
      if (accept(text, i, cand)) out.push({ start: i, end: cand.end, rule: 'phone-number', kind: 'pii' });
      // Resume after the candidate: its digits cannot start another number.
      i = Math.max(i + 1, cand.end);
    }
  },
};
