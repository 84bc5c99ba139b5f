/**
 * Masking one string: run the enabled rules, merge their spans, replace each merged span with
 * `[REDACTED:<rule>]`, repeat until nothing more is found (bounded), and bound the work on long
 * strings. Markers never match a rule, and text inside an existing marker is never re-masked, so
 * masking is idempotent.
 */
import { prefilter } from './prefilter.js';
import type { Rule, Span } from './types.js';

export const MARKER_PREFIX = '[REDACTED:';
/** Appended to a string whose tail was not scanned (it is dropped, not kept). */
export const TRUNCATED_MARKER = '[TRUNCATED]';
/** Longest rule name; a marker is at most MARKER_PREFIX + this + 1 characters. */
export const MAX_RULE_NAME = 32;
/** Upper bound of the characters one finding adds to a string (a marker replacing one character). */
export const MAX_MARKER_OVERHEAD = MARKER_PREFIX.length + MAX_RULE_NAME + 1;

export function marker(rule: string): string {
  return `${MARKER_PREFIX}${rule}]`;
}

// Existing markers in a text: fixed prefix, a bounded name, a closing bracket (linear).
const MARKER_RE = /\[REDACTED:[a-z0-9-]{1,32}\]/g;
const ALNUM_RE = /[A-Za-z0-9]/;
/** No rule matches fewer characters than this (the shortest is an IPv6 address like `a::1`). */
const MIN_FINDING = 4;
/** Passes of rule runs per string before giving up on reaching a fixed point. */
const MAX_PASSES = 4;

export interface MaskOutcome {
  text: string;
  /** rule name → [kind, number of masked spans] */
  hits: Map<string, { kind: 'secret' | 'pii'; count: number }>;
}

function markerRanges(text: string): [number, number][] {
  if (!text.includes(MARKER_PREFIX)) return [];
  const out: [number, number][] = [];
  MARKER_RE.lastIndex = 0;
  for (let m = MARKER_RE.exec(text); m !== null; m = MARKER_RE.exec(text)) out.push([m.index, m.index + m[0].length]);
  return out;
}

/** Removes the parts of spans that lie inside existing markers; drops pieces with nothing to hide. */
function outsideMarkers(text: string, spans: Span[], markers: [number, number][]): Span[] {
  if (markers.length === 0) return spans;
  const out: Span[] = [];
  for (const s of spans) {
    let start = s.start;
    for (const [ms, me] of markers) {
      if (me <= start || ms >= s.end) continue;
      if (ms > start) out.push({ ...s, start, end: ms });
      start = Math.max(start, me);
    }
    if (start < s.end) out.push({ ...s, start });
  }
  return out.filter((s) => ALNUM_RE.test(text.slice(s.start, s.end)));
}

/** A merged span: overlapping spans become one, named by the first (earliest, then longest, then rule order). */
export interface MergedSpan {
  start: number;
  end: number;
  rule: string;
  kind: 'secret' | 'pii';
}

/** Allow-list: a detected span whose text this accepts is not masked (e.g. a known test token). */
export type AllowFn = (matched: string, rule: string) => boolean;

/** Runs the rules over `text` once and returns the merged spans to mask, in order. */
export function detectSpans(text: string, rules: readonly Rule[], allow?: AllowFn): MergedSpan[] {
  let spans: Span[] = [];
  const { run, features } = prefilter(text, rules);
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i]!;
    if (run[i] === 1 && (!r.mayMatch || r.mayMatch(text, features))) r.find(text, spans);
  }
  if (spans.length === 0) return [];
  spans = outsideMarkers(text, spans, markerRanges(text));
  if (allow) spans = spans.filter((s) => !allow(text.slice(s.start, s.end), s.rule));
  if (spans.length === 0) return [];
  // Stable sort: at equal start and end the earlier rule (rule order) names the merged span.
  spans.sort((a, b) => a.start - b.start || b.end - a.end);
  const merged: MergedSpan[] = [];
  let i = 0;
  while (i < spans.length) {
    const first = spans[i]!;
    let end = first.end;
    i++;
    while (i < spans.length && spans[i]!.start < end) end = Math.max(end, spans[i++]!.end);
    merged.push({ start: first.start, end, rule: first.rule, kind: first.kind });
  }
  return merged;
}

/** One pass: detect, then replace each merged span with its marker. */
function maskOnce(text: string, rules: readonly Rule[], hits: MaskOutcome['hits'], allow?: AllowFn): string | undefined {
  const merged = detectSpans(text, rules, allow);
  if (merged.length === 0) return undefined;
  const parts: string[] = [];
  let pos = 0;
  for (const m of merged) {
    parts.push(text.slice(pos, m.start), marker(m.rule));
    pos = m.end;
    const h = hits.get(m.rule);
    if (h) h.count++;
    else hits.set(m.rule, { kind: m.kind, count: 1 });
  }
  parts.push(text.slice(pos));
  return parts.join('');
}

function maskToFixedPoint(text: string, rules: readonly Rule[], hits: MaskOutcome['hits'], allow?: AllowFn): string {
  let cur = text;
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    const next = maskOnce(cur, rules, hits, allow);
    if (next === undefined) break;
    cur = next;
  }
  return cur;
}

/**
 * Masks `text`. At most `maxChars` characters are scanned and kept: a longer input (or one whose
 * masked form would grow past the limit) keeps a masked prefix of at most `maxChars` characters
 * followed by TRUNCATED_MARKER. A trailing TRUNCATED_MARKER in the input is kept as such, so a
 * second run over the output changes nothing.
 */
export function maskText(text: string, rules: readonly Rule[], maxChars: number, allow?: AllowFn): MaskOutcome {
  const hits: MaskOutcome['hits'] = new Map();
  let body = text;
  let truncated = false;
  if (body.endsWith(TRUNCATED_MARKER)) {
    body = body.slice(0, body.length - TRUNCATED_MARKER.length);
    truncated = true;
  }
  if (rules.length === 0 || body.length < MIN_FINDING) {
    if (body.length <= maxChars) return { text, hits };
    return { text: body.slice(0, maxChars) + TRUNCATED_MARKER, hits };
  }
  let prefix = body.length > maxChars ? body.slice(0, maxChars) : body;
  if (prefix.length < body.length) truncated = true;
  let out = maskToFixedPoint(prefix, rules, hits, allow);
  // Markers can be longer than what they replace: shorten the scanned prefix until the output fits.
  for (let round = 0; out.length > maxChars; round++) {
    truncated = true;
    const excess = out.length - maxChars;
    prefix = round < 6 ? prefix.slice(0, Math.max(0, prefix.length - excess)) : prefix.slice(0, prefix.length >> 1);
    hits.clear();
    out = maskToFixedPoint(prefix, rules, hits, allow);
  }
  return { text: truncated ? out + TRUNCATED_MARKER : out, hits };
}
