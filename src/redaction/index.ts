/**
 * Portcullis's redaction library: masks secrets and PII in strings and in JSON values.
 * Used by the audit log's payload capture and, later, by content filters on every call.
 * See docs/redaction.md for the rules, the marker format and the measured quality and cost.
 *
 * redactValue / redactText are the API; detectSpans / selectRules are the lower level (spans in
 * the original text, rule subsets, allow-lists) used by the tests and by future configuration.
 */
import { redactText as textImpl, redactValue as valueImpl } from './walk.js';

export interface RedactionFinding { kind: 'secret' | 'pii'; rule: string; path: string; count: number }
export interface RedactionResult<T> { value: T; findings: RedactionFinding[] }
export interface RedactOptions { secrets?: boolean; pii?: boolean; maxStringChars?: number; maxDepth?: number }

/** Masks secrets and PII in every string of a JSON value (object keys kept, non-string scalars kept). Never throws on JSON input; bounded work (strings longer than a limit are scanned only up to it, the rest replaced by a marker). Returns a new value; the input is not mutated. */
export function redactValue(value: unknown, opts?: RedactOptions): RedactionResult<unknown> {
  return valueImpl(value, opts);
}

/** Masks secrets and PII in one string; findings carry the path `` (empty). */
export function redactText(text: string, opts?: RedactOptions): RedactionResult<string> {
  return textImpl(text, opts);
}

export { MARKER_PREFIX, TRUNCATED_MARKER, MAX_MARKER_OVERHEAD, marker, detectSpans } from './mask.js';
export type { MergedSpan, AllowFn } from './mask.js';
export { selectRules, SECRET_RULE_NAMES, PII_RULE_NAMES } from './rules.js';
export { isSensitiveKey, SENSITIVE_KEY_RULE } from './sensitive-keys.js';
export { DEFAULT_MAX_STRING_CHARS, DEFAULT_MAX_DEPTH, MAX_PATH_CHARS, DEPTH_MARKER } from './walk.js';
