/**
 * redactValue / redactText: walks a JSON value, masks every string (keys kept, other scalars
 * kept), masks the whole value of a secret-named key, and reports findings by JSON-pointer path.
 * Bounded: depth (deeper containers become a marker), characters per string (mask.ts), path length.
 */
import { maskText, marker } from './mask.js';
import { rulesFor } from './rules.js';
import { isSensitiveKey, SENSITIVE_KEY_RULE } from './sensitive-keys.js';
import type { RedactionFinding, RedactionResult, RedactOptions, Rule } from './types.js';

export const DEFAULT_MAX_STRING_CHARS = 65_536;
export const DEFAULT_MAX_DEPTH = 64;
/** Longest `path` reported in a finding; a longer one is cut and ends with `…`. */
export const MAX_PATH_CHARS = 256;
/** Findings reported per call (the masking itself is not limited by this). */
export const MAX_FINDINGS = 1000;
/** Replaces a container nested deeper than maxDepth. */
export const DEPTH_MARKER = marker('max-depth');
/** Replaces a value that could not be read (a throwing getter, a proxy). */
export const UNREADABLE_MARKER = marker('unreadable');
const SENSITIVE_MARKER = marker(SENSITIVE_KEY_RULE);

interface Walk {
  rules: readonly Rule[];
  maxChars: number;
  maxDepth: number;
  findings: Map<string, RedactionFinding>;
  /** Containers on the current path (non-JSON input may be cyclic). */
  stack: Set<object>;
  /** Keys and indices of the current path; turned into a JSON pointer only for a finding. */
  segments: string[];
}

function limits(opts: RedactOptions | undefined): { rules: readonly Rule[]; maxChars: number; maxDepth: number } {
  const maxChars = positiveInt(opts?.maxStringChars, DEFAULT_MAX_STRING_CHARS);
  const maxDepth = positiveInt(opts?.maxDepth, DEFAULT_MAX_DEPTH);
  return { rules: rulesFor(opts?.secrets !== false, opts?.pii !== false), maxChars, maxDepth };
}

function positiveInt(v: number | undefined, dflt: number): number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 1 ? Math.floor(v) : dflt;
}

function escapeToken(key: string): string {
  return key.includes('~') || key.includes('/') ? key.replace(/~/g, '~0').replace(/\//g, '~1') : key;
}

/** The JSON pointer of the current path, at most MAX_PATH_CHARS long (cut with `…`). */
function pointer(segments: readonly string[]): string {
  let p = '';
  for (const seg of segments) {
    p += `/${escapeToken(seg.length > MAX_PATH_CHARS ? seg.slice(0, MAX_PATH_CHARS) : seg)}`;
    if (p.length > MAX_PATH_CHARS) return `${p.slice(0, MAX_PATH_CHARS - 1)}…`;
  }
  return p;
}

function record(w: Walk, kind: 'secret' | 'pii', rule: string, count: number): void {
  const path = pointer(w.segments);
  const id = `${rule}\u0000${path}`;
  const f = w.findings.get(id);
  if (f) f.count += count;
  else if (w.findings.size < MAX_FINDINGS) w.findings.set(id, { kind, rule, path, count });
}

function redactString(w: Walk, s: string): string {
  const { text, hits } = maskText(s, w.rules, w.maxChars);
  for (const [rule, h] of hits) record(w, h.kind, rule, h.count);
  return text;
}

/** Our own fixed markers, kept as they are wherever they appear (so a second pass changes nothing). */
const FIXED_MARKERS = new Set([SENSITIVE_MARKER, DEPTH_MARKER, UNREADABLE_MARKER]);

function walk(w: Walk, v: unknown, depth: number): unknown {
  switch (typeof v) {
    case 'string':
      return FIXED_MARKERS.has(v) ? v : redactString(w, v);
    case 'bigint':
      // Not JSON: kept as its decimal string, scanned like any string.
      return redactString(w, v.toString());
    case 'number':
      return Number.isFinite(v) ? (v === 0 ? 0 : v) : null; // -0 becomes 0, as JSON has it
    case 'boolean':
      return v;
    case 'object':
      break;
    default:
      return undefined; // undefined, function, symbol: not JSON (dropped by JSON.stringify)
  }
  if (v === null) return null;
  if (depth >= w.maxDepth || w.stack.has(v)) return DEPTH_MARKER;
  w.stack.add(v);
  try {
    if (Array.isArray(v)) {
      const out: unknown[] = new Array<unknown>(v.length);
      for (let i = 0; i < v.length; i++) {
        w.segments.push(String(i));
        const item = walk(w, v[i], depth + 1);
        w.segments.pop();
        out[i] = item === undefined ? null : item;
      }
      return out;
    }
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(v)) {
      const item = (v as Record<string, unknown>)[key];
      w.segments.push(key);
      let r: unknown;
      try {
        if (typeof item === 'string' && item !== '' && !FIXED_MARKERS.has(item) && isSensitiveKey(key)) {
          record(w, 'secret', SENSITIVE_KEY_RULE, 1);
          r = SENSITIVE_MARKER;
        } else {
          r = walk(w, item, depth + 1);
        }
      } finally {
        w.segments.pop();
      }
      if (r === undefined) continue;
      // A key named `__proto__` must stay an own data property, not set the prototype.
      if (key === '__proto__') Object.defineProperty(out, key, { value: r, enumerable: true, writable: true, configurable: true });
      else out[key] = r;
    }
    return out;
  } catch {
    return UNREADABLE_MARKER;
  } finally {
    w.stack.delete(v);
  }
}

/**
 * Masks secrets and PII in every string of a JSON value (object keys kept, non-string scalars
 * kept). Never throws on JSON input; bounded work (strings longer than a limit are scanned only
 * up to it, the rest replaced by a marker). Returns a new value; the input is not mutated.
 */
export function redactValue(value: unknown, opts?: RedactOptions): RedactionResult<unknown> {
  const w: Walk = { ...limits(opts), findings: new Map(), stack: new Set(), segments: [] };
  let out: unknown;
  try {
    out = walk(w, value, 0);
  } catch {
    out = UNREADABLE_MARKER; // e.g. stack exhaustion on a hostile non-JSON value
  }
  return { value: out, findings: [...w.findings.values()] };
}

/** Masks secrets and PII in one string; findings carry the path ``. Never throws. */
export function redactText(text: string, opts?: RedactOptions): RedactionResult<string> {
  const w: Walk = { ...limits(opts), findings: new Map(), stack: new Set(), segments: [] };
  let s: string;
  try {
    s = typeof text === 'string' ? text : String(text);
  } catch {
    return { value: UNREADABLE_MARKER, findings: [] };
  }
  return { value: redactString(w, s), findings: [...w.findings.values()] };
}
