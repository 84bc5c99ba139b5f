/**
 * The string checks behind the argument guards (security-checklist D2). Each is a pure predicate
 * on one string, fast on the common case (a scan with no allocation) and conservative on the rest:
 * the gateway cannot see how the upstream will interpret a value, so it refuses every form a
 * command line or a filesystem could read as an option or a parent directory.
 */
import { posix } from 'node:path';

/** True when the value would be read as an option by getopt-style parsers (`-p`, `--output=…`). */
export function startsWithDash(s: string): boolean {
  const c = s.charCodeAt(0);
  if (c === 0x2d) return true;
  // Printable ASCII other than space is never trimmed: the common case, without a RegExp.
  if (c > 0x20 && c < 0x7f) return false;
  return LEADING_DASH.test(s);
}

// Upstreams trim before building argv, so nothing a trim removes may hide the dash: `\s` is exactly
// what String.prototype.trim() removes (Unicode white space, line terminators, U+FEFF); Python's
// str.strip() also removes U+001C–U+001F and U+0085. One class, anchored: linear.
// eslint-disable-next-line no-control-regex
const LEADING_DASH = /^[\s\u001c-\u001f\u0085]*-/;

// Single character classes: linear in V8's engine, and faster than a charCodeAt loop.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;
// eslint-disable-next-line no-control-regex
const NON_ASCII = /[^\u0000-\u007f]/;

/** True for NUL and other control characters: C0 except tab, LF, CR; DEL; C1. */
export function hasControlChar(s: string): boolean {
  return CONTROL.test(s);
}

const DOTDOT_SEGMENT = /(?:^|\/)\.\.(?:\/|$)/;

function hasDotDotSegment(s: string): boolean {
  return DOTDOT_SEGMENT.test(s.includes('\\') ? s.replaceAll('\\', '/') : s);
}

const isAscii = (s: string): boolean => !NON_ASCII.test(s);

/**
 * True when the value has a `..` path segment once normalised: backslashes read as separators,
 * percent-encoding decoded (twice, for double encoding), Unicode compatibility forms folded (NFKC
 * maps U+2025 and fullwidth dots to `.`). Any `..` segment counts, even `a/../b`: the gateway
 * cannot know which base the upstream joins a value to, nor whether `a` is a symlink.
 */
export function hasDotDot(s: string): boolean {
  let v = s;
  if (!isAscii(v)) v = v.normalize('NFKC');
  if (v.includes('..') && hasDotDotSegment(v)) return true;
  for (let round = 0; round < 2 && v.includes('%'); round++) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(v);
    } catch {
      // Malformed escapes: decode only the dot and separator escapes that matter here.
      decoded = v.replace(/%2e/gi, '.').replace(/%2f/gi, '/').replace(/%5c/gi, '\\');
    }
    if (decoded === v) break;
    v = isAscii(decoded) ? decoded : decoded.normalize('NFKC');
    if (v.includes('..') && hasDotDotSegment(v)) return true;
  }
  return false;
}

/** Normalises configured roots once: absolute, no trailing slash (except `/` itself). */
export function normaliseRoot(root: string): string {
  const n = posix.normalize(root.replaceAll('\\', '/'));
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

/**
 * True when `value` is an absolute path that lies inside one of `roots` after lexical
 * normalisation (backslashes read as separators). Relative paths are always outside, and so is a
 * path with a `..` segment that appears only once percent-encoding is decoded or Unicode
 * compatibility forms are folded (`%2e%2e`, fullwidth dots): lexically it is a name inside the
 * root, but an upstream that decodes it would climb out.
 */
export function insideRoots(value: string, roots: readonly string[]): boolean {
  const slashed = value.includes('\\') ? value.replaceAll('\\', '/') : value;
  if (!slashed.startsWith('/')) return false;
  if (!hasDotDotSegment(slashed) && hasDotDot(slashed)) return false;
  // Already normal unless it has `.` segments or doubled slashes: skip the allocation.
  const p = slashed.includes('/.') || slashed.includes('//') ? posix.normalize(slashed) : slashed;
  for (const root of roots) {
    if (root === '/') return true;
    if (p === root || p === `${root}/` || (p.startsWith(root) && p.charCodeAt(root.length) === 0x2f)) return true;
  }
  return false;
}
