/** Types shared by the redaction modules (re-exported from index.ts). */

export type { RedactionFinding, RedactionResult, RedactOptions } from './index.js';
import type { Features } from './prefilter.js';

/** A half-open range [start, end) of UTF-16 code units that a rule wants masked. */
export interface Span {
  start: number;
  end: number;
  rule: string;
  kind: 'secret' | 'pii';
}

/**
 * One detection rule. The pre-filter (prefilter.ts) runs it only when one of its `keywords` occurs
 * (when it has keywords) and `mayMatch` (when present) agrees on the string's features; `find`
 * appends the spans it detects and must run in time linear in `text.length`.
 */
export interface Rule {
  name: string;
  kind: 'secret' | 'pii';
  /** Case-sensitive literals (2+ ASCII characters), one of which must occur for the rule to run. */
  keywords?: readonly string[];
  mayMatch?(text: string, features: Features): boolean;
  find(text: string, out: Span[]): void;
}
