/**
 * Building blocks for rules that stay linear-time:
 *  - `safeRegExp`: a RegExp on V8's linear engine (the `l` flag, made available by
 *    src/arguments/regexp.ts switching on `--enable-experimental-regexp-engine`); that engine refuses
 *    anything it cannot run in linear time. A pattern it refuses may use the backtracking engine only
 *    when it has no nested or alternating repetition (checked with unsafePatternReason).
 *  - `tokenRule`: hand-written scanning for "literal prefix + run of token characters", resuming
 *    after each run so no character is scanned twice per prefix.
 */
import { LINEAR_ENGINE, unsafePatternReason } from '../arguments/regexp.js';
import type { Features } from './prefilter.js';
import type { Rule, Span } from './types.js';

const LINEAR_FLAG = 'l';

export interface SafeRegExp {
  re: RegExp;
  linear: boolean;
}

/** Every RegExp a rule uses, for the ReDoS test (source, linear engine or not). */
export const REGISTERED: SafeRegExp[] = [];

/**
 * True when every quantifier in `source` is bounded (`?`, `{n}`, `{n,m}`; no `*`, `+`, `{n,}`):
 * each start position then costs at most a constant, so the backtracking engine is linear too.
 */
export function isBoundedPattern(source: string): boolean {
  const bare = source.replace(/\\./g, 'x').replace(/\[[^\]]*\]/g, 'x');
  return !/[*+]|\{\d+,\}/.test(bare);
}

/**
 * A global RegExp for a rule. Bounded patterns without nested or alternating repetition use the
 * (faster) backtracking engine; every other pattern must be accepted by the linear engine.
 */
export function safeRegExp(source: string, flags = ''): RegExp {
  const f = flags.includes('g') ? flags : `${flags}g`;
  let entry: SafeRegExp | undefined;
  if (isBoundedPattern(source) && unsafePatternReason(source) === undefined) {
    entry = { re: new RegExp(source, f), linear: false };
  } else if (LINEAR_ENGINE) {
    // Throws (at module load, so tests catch it) when the linear engine refuses the pattern.
    entry = { re: new RegExp(source, f + LINEAR_FLAG), linear: true };
  } else {
    // No linear engine on this runtime: the ReDoS test fails rather than this code guessing.
    entry = { re: new RegExp(source, f), linear: false };
  }
  REGISTERED.push(entry);
  return entry.re;
}

export function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
export function isLetter(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}
export function isAlnum(c: number): boolean {
  return isDigit(c) || isLetter(c);
}
/** [A-Za-z0-9_] */
export function isWord(c: number): boolean {
  return isAlnum(c) || c === 95;
}
/** [A-Za-z0-9_-] */
export function isUrlSafe(c: number): boolean {
  return isWord(c) || c === 45;
}
/** [A-Za-z0-9+/=_-] (standard and URL-safe base64) */
export function isBase64(c: number): boolean {
  return isUrlSafe(c) || c === 43 || c === 47 || c === 61;
}
export function isHex(c: number): boolean {
  return isDigit(c) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

/** End of the run of characters satisfying `ok` from `i`, scanning at most `max` characters. */
export function runEnd(text: string, i: number, ok: (c: number) => boolean, max = 1 << 20): number {
  const stop = Math.min(text.length, i + max);
  let j = i;
  while (j < stop && ok(text.charCodeAt(j))) j++;
  return j;
}

/** charCodeAt, with NaN (never a match) outside the string. */
export function at(text: string, i: number): number {
  return i >= 0 && i < text.length ? text.charCodeAt(i) : Number.NaN;
}

export interface TokenSpec {
  name: string;
  /** Case-sensitive literal prefixes (part of the masked token). */
  prefixes: readonly string[];
  /** Characters of the token body after the prefix. */
  body: (c: number) => boolean;
  min: number;
  /** Longest body accepted; a longer run is not this token (unless `cap`). */
  max?: number;
  /** Mask only the first `max` body characters of a longer run instead of refusing it. */
  cap?: boolean;
  /** The character before the prefix must not satisfy this (default: a letter or digit). */
  notBefore?: (c: number) => boolean;
  /** The character after the body must not satisfy this (default: none). */
  notAfter?: (c: number) => boolean;
  /** Extra check on the body. */
  accept?: (body: string) => boolean;
  /** Mask only the body, not the prefix (e.g. `Bearer `). */
  keepPrefix?: boolean;
  /** Extends the token past the body (e.g. a `-<digits>` suffix); returns the new end. */
  extend?: (text: string, end: number) => number;
}

/** The longest body scanned for a token; longer runs are still masked up to here. */
const MAX_TOKEN = 4096;

export function tokenRule(spec: TokenSpec): Rule {
  const notBefore = spec.notBefore ?? isAlnum;
  const max = spec.max ?? MAX_TOKEN;
  return {
    name: spec.name,
    kind: 'secret',
    keywords: spec.prefixes,
    find(text, out: Span[]) {
      for (const p of spec.prefixes) {
        let from = 0;
        for (let i = text.indexOf(p, from); i !== -1; i = text.indexOf(p, from)) {
          const b = i + p.length;
          const e = runEnd(text, b, spec.body, MAX_TOKEN);
          from = Math.max(e, i + 1);
          if (notBefore(at(text, i - 1))) continue;
          let len = e - b;
          if (len < spec.min) continue;
          if (len > max) {
            if (!spec.cap) continue;
            len = max;
          } else if (spec.notAfter && spec.notAfter(at(text, e))) continue;
          if (spec.accept && !spec.accept(text.slice(b, b + len))) continue;
          const end = spec.extend ? spec.extend(text, b + len) : b + len;
          out.push({ start: spec.keepPrefix ? b : i, end, rule: spec.name, kind: 'secret' });
        }
      }
    },
  };
}

/** A case-insensitive pattern for an ASCII word, for the linear engine (which has no `i` flag). */
export function ci(word: string): string {
  let out = '';
  for (const ch of word) {
    const lo = ch.toLowerCase();
    const up = ch.toUpperCase();
    out += lo !== up ? `[${up}${lo}]` : ch === '_' || ch === '-' ? '[_-]?' : ch;
  }
  return out;
}

/** Does `text` contain `word` in any ASCII letter case? (pre-filter, tries the usual spellings) */
export function includesAnyCase(text: string, word: string): boolean {
  return text.includes(word) || text.includes(word.toUpperCase()) || text.includes(word[0]!.toUpperCase() + word.slice(1));
}

/**
 * A rule from a global RegExp (built with safeRegExp): each match is passed to `check`, which
 * returns the span to mask (often the match itself) or undefined to drop it.
 */
export function regexRule(o: {
  name: string;
  kind: 'secret' | 'pii';
  keywords?: readonly string[];
  mayMatch?: (text: string, f: Features) => boolean;
  re: RegExp;
  check: (m: RegExpExecArray, text: string) => [number, number] | undefined;
  /** After a rejected match, search again from the next character (bounded patterns only). */
  retryInside?: boolean;
}): Rule {
  return {
    name: o.name,
    kind: o.kind,
    keywords: o.keywords,
    mayMatch: o.mayMatch,
    find(text, out: Span[]) {
      const re = o.re;
      re.lastIndex = 0;
      for (let m = re.exec(text); m !== null; m = re.exec(text)) {
        if (m[0].length === 0) {
          re.lastIndex++;
          continue;
        }
        const s = o.check(m, text);
        if (s) out.push({ start: s[0], end: s[1], rule: o.name, kind: o.kind });
        else if (o.retryInside) re.lastIndex = m.index + 1;
      }
    },
  };
}
