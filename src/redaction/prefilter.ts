/**
 * The cheap pre-filter run once per string before any rule: one pass over the characters that
 *  - finds which rule keywords occur (token prefixes such as `ghp_`, `xoxb-`, `PRIVATE KEY`, `://`),
 *    using a bitmap over a hash of each position's first three characters, so that most positions
 *    cost one table read and only a hashed hit compares strings; and
 *  - measures the numeric shapes the PII rules need (digits in one digit cluster, a
 *    letter-letter-digit-digit start for IBANs, colons in a hex/colon run for IPv6, a dot between
 *    digits for IPv4).
 * A rule runs only when one of its keywords occurs (if it has keywords) and its `mayMatch` agrees.
 */
import type { Rule } from './types.js';

export interface Features {
  /** Most digits in one cluster of digits joined by at most two of ` -.()/+`. */
  clusterDigits: number;
  /** A letter, letter, digit, digit sequence after a non-alphanumeric character (an IBAN start). */
  ibanStart: boolean;
  /** Most colons in one run of hex digits and colons. */
  hexColons: number;
  /** A `.` occurs between digits. */
  dottedDigits: boolean;
}

const HASH_BITS = 16;
const HASH_MASK = (1 << HASH_BITS) - 1;

interface KeywordIndex {
  /** 1 for the first character (ASCII) of some keyword: other positions skip the hash. */
  first: Uint8Array;
  /** 1 where some keyword's first three characters hash. */
  bitmap: Uint8Array;
  byHash: Map<number, { keyword: string; rules: number[] }[]>;
  /** Rules without keywords always pass this stage. */
  always: number[];
  /** Reused per call (single-threaded, and prefilter is never re-entered). */
  run: Uint8Array;
}

function hash3(c0: number, c1: number, c2: number): number {
  return (((c0 * 131) ^ (c1 * 31)) + c2 * 7919) & HASH_MASK;
}

const indexes = new WeakMap<readonly Rule[], KeywordIndex>();

function indexFor(rules: readonly Rule[]): KeywordIndex {
  const idx = indexes.get(rules);
  if (idx) return idx;
  const built: KeywordIndex = { first: new Uint8Array(128), bitmap: new Uint8Array(1 << HASH_BITS), byHash: new Map(), always: [], run: new Uint8Array(rules.length) };
  for (let i = 0; i < rules.length; i++) {
    const kws = rules[i]!.keywords;
    if (!kws || kws.length === 0) {
      built.always.push(i);
      continue;
    }
    for (const k of kws) {
      if (k.length < 3) throw new Error(`keyword ${JSON.stringify(k)}: three characters at least`);
      if (k.charCodeAt(0) > 127) throw new Error(`keyword ${JSON.stringify(k)}: must start with an ASCII character`);
      built.first[k.charCodeAt(0)] = 1;
      const h = hash3(k.charCodeAt(0), k.charCodeAt(1), k.charCodeAt(2));
      built.bitmap[h] = 1;
      let list = built.byHash.get(h);
      if (!list) built.byHash.set(h, (list = []));
      const e = list.find((x) => x.keyword === k);
      if (e) e.rules.push(i);
      else list.push({ keyword: k, rules: [i] });
    }
  }
  indexes.set(rules, built);
  return built;
}

// Character classes for ASCII: digit, separator inside a digit cluster, letter, hex digit.
const DIGIT = 1;
const SEP = 2;
const LETTER = 4;
const HEX = 8;
const CLASS = new Uint8Array(128);
for (let c = 48; c <= 57; c++) CLASS[c] = DIGIT | HEX;
for (let c = 65; c <= 90; c++) CLASS[c] = LETTER | (c <= 70 ? HEX : 0);
for (let c = 97; c <= 122; c++) CLASS[c] = LETTER | (c <= 102 ? HEX : 0);
for (const ch of ' -.()/+') CLASS[ch.charCodeAt(0)] = SEP;

const features: Features = { clusterDigits: 0, ibanStart: false, hexColons: 0, dottedDigits: false };

/**
 * Which rules (by index) are worth running on `text`, and its numeric features. Both results are
 * reused buffers, valid until the next call.
 */
export function prefilter(text: string, rules: readonly Rule[]): { run: Uint8Array; features: Features } {
  const idx = indexFor(rules);
  const run = idx.run;
  run.fill(0);
  for (const i of idx.always) run[i] = 1;
  const f = features;
  f.clusterDigits = 0;
  f.ibanStart = false;
  f.hexColons = 0;
  f.dottedDigits = false;
  let digits = 0;
  let seps = 0;
  let colons = 0;
  let prevAlnum = false;
  const n = text.length;
  const bitmap = idx.bitmap;
  const first = idx.first;
  let c0 = n > 0 ? text.charCodeAt(0) : 0;
  let c1 = n > 1 ? text.charCodeAt(1) : 0;
  for (let i = 0; i < n; i++) {
    const c2 = i + 2 < n ? text.charCodeAt(i + 2) : 0;
    if (c0 < 128 && first[c0] === 1 && bitmap[hash3(c0, c1, c2)] === 1) {
      const list = idx.byHash.get(hash3(c0, c1, c2));
      if (list) for (const e of list) if (text.startsWith(e.keyword, i)) for (const r of e.rules) run[r] = 1;
    }
    const k = c0 < 128 ? CLASS[c0]! : 0;
    if ((k & DIGIT) !== 0) {
      digits++;
      seps = 0;
      if (digits > f.clusterDigits) f.clusterDigits = digits;
      if (c1 === 46 && c2 >= 48 && c2 <= 57) f.dottedDigits = true;
    } else if ((k & SEP) !== 0 && digits > 0 && seps < 2) {
      seps++;
    } else {
      digits = 0;
      seps = 0;
      if (!prevAlnum && (k & LETTER) !== 0 && c1 < 128 && (CLASS[c1]! & LETTER) !== 0 && c2 >= 48 && c2 <= 57) {
        const c3 = i + 3 < n ? text.charCodeAt(i + 3) : 0;
        if (c3 >= 48 && c3 <= 57) f.ibanStart = true;
      }
    }
    if (c0 === 58) {
      if (++colons > f.hexColons) f.hexColons = colons;
    } else if ((k & HEX) === 0) colons = 0;
    prevAlnum = (k & (DIGIT | LETTER)) !== 0;
    c0 = c1;
    c1 = c2;
  }
  return { run, features: f };
}
