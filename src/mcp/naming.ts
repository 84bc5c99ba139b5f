/**
 * Exposed names for aggregated tools and prompts (mcp-protocol.md §15, security-checklist.md E4).
 *
 * Upstream names only SHOULD follow the spec's `[A-Za-z0-9_.-]{1,128}`, and model APIs commonly
 * accept only `^[a-zA-Z0-9_-]{1,64}$`, so the gateway always emits the stricter set. Mapping is
 * deterministic (same inputs → same names on every node and after every restart) and collisions
 * are resolved in a fixed order and reported, never silently merged.
 */
import { createHash } from 'node:crypto';

/** Maximum length of an exposed name. */
export const MAX_EXPOSED_NAME = 64;
/** Every exposed name matches this. */
export const EXPOSED_NAME_RE = /^[a-zA-Z0-9_-]{1,64}$/;

const HASH_LEN = 8;

/** True for the characters an exposed name may contain: `[A-Za-z0-9_-]`. */
function isSafeCode(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) || // a-z
    (c >= 0x41 && c <= 0x5a) || // A-Z
    (c >= 0x30 && c <= 0x39) || // 0-9
    c === 0x5f || // _
    c === 0x2d // -
  );
}

function shortHash(s: string): string {
  return createHash('sha256').update(s, 'utf8').digest('hex').slice(0, HASH_LEN);
}

/** `base + suffix`, cutting `base` so the result stays within {@link MAX_EXPOSED_NAME}. */
function withSuffix(base: string, suffix: string): string {
  const room = MAX_EXPOSED_NAME - suffix.length;
  return (base.length > room ? base.slice(0, room) : base) + suffix;
}

/**
 * The client-valid name for `original` exposed under `prefix` (`prefix + separator + original`,
 * or just `original` when the prefix is empty).
 *
 * Characters outside `[A-Za-z0-9_-]` become `_`. A name that had to be altered, or is longer than
 * 64, gets `-` + 8 hex characters of SHA-256 over the *unaltered* full name, after a readable
 * head: so `a.b` and `a_b`, or two long names sharing a 60-character head, do not meet by
 * sanitising or cutting alone. The result always matches {@link EXPOSED_NAME_RE}.
 */
export function exposedName(prefix: string, separator: string, original: string): string {
  const full = prefix === '' ? original : prefix + separator + original;
  let altered = false;
  let sanitized = full;
  for (let i = 0; i < full.length; i++) {
    if (!isSafeCode(full.charCodeAt(i))) {
      altered = true;
      break;
    }
  }
  if (altered) {
    // Per UTF-16 code unit: an astral character becomes "__", which is fine (readability only).
    let out = '';
    for (let i = 0; i < full.length; i++) out += isSafeCode(full.charCodeAt(i)) ? full[i] : '_';
    sanitized = out;
  }
  if (!altered && sanitized.length >= 1 && sanitized.length <= MAX_EXPOSED_NAME) return sanitized;
  // An empty name gets a placeholder head so the result does not start with the hash separator.
  const head = sanitized === '' ? '_' : sanitized;
  return withSuffix(head, '-' + shortHash(full));
}

/** One name to assign: `key` identifies the definition (e.g. `upstream\0toolName`). */
export interface NameEntry {
  key: string;
  prefix: string;
  original: string;
}

/** Keys whose exposed names coincided (with each other, or one key with a reserved name); `resolvedTo[i]` is the name given to `keys[i]`. */
export interface NameCollision {
  exposed: string;
  keys: string[];
  resolvedTo: string[];
}

/**
 * Exposed names for one group of entries. The result does not depend on the order of `entries`
 * (they are processed sorted by key); distinct keys always get distinct names. When several keys
 * map to the same name, the smallest key keeps it and the others get `-2`, `-3`, … (cut to stay
 * within 64 characters, skipping any name another entry already has), and the collision is
 * reported. Duplicate keys are a caller bug: the entry with the smallest (prefix, original) wins.
 *
 * `reserved`: names already given to an earlier group (the catalogue names shared upstreams
 * before a tenant's private ones). No entry gets one: a key whose name is reserved gets a suffix
 * like the losers above, and its collision lists only this group's keys (`keys[0]` does not keep
 * the name then). Names of the earlier group never depend on this one.
 */
export function assignNames(
  entries: readonly NameEntry[],
  separator: string,
  reserved: ReadonlySet<string> = new Set(),
): { names: Map<string, string>; collisions: NameCollision[] } {
  const sorted = [...entries].sort((a, b) => cmp(a.key, b.key) || cmp(a.prefix, b.prefix) || cmp(a.original, b.original));
  const base = new Map<string, string>();
  const groups = new Map<string, string[]>();
  for (const e of sorted) {
    if (base.has(e.key)) continue;
    const name = exposedName(e.prefix, separator, e.original);
    base.set(e.key, name);
    const g = groups.get(name);
    if (g) g.push(e.key);
    else groups.set(name, [e.key]);
  }
  // Every base name is reserved up front, so a suffixed name never takes another entry's own name.
  const used = new Set([...reserved, ...groups.keys()]);
  const names = new Map<string, string>();
  const collisions: NameCollision[] = [];
  for (const [key, name] of base) {
    const g = groups.get(name);
    if (!g || g[0] !== key) continue; // handled with its group's first (smallest) key
    const taken = reserved.has(name);
    if (!taken) names.set(key, name);
    if (g.length === 1 && !taken) continue;
    const resolvedTo = taken ? [] : [name];
    let n = 2;
    for (let i = taken ? 0 : 1; i < g.length; i++) {
      let candidate = withSuffix(name, `-${n++}`);
      while (used.has(candidate)) candidate = withSuffix(name, `-${n++}`);
      used.add(candidate);
      names.set(g[i]!, candidate);
      resolvedTo.push(candidate);
    }
    collisions.push({ exposed: name, keys: [...g], resolvedTo });
  }
  return { names, collisions };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Reasons {@link flagSuspiciousName} can give. */
export type NameFlag =
  | 'empty'
  | 'too-long'
  | 'outside-spec-charset'
  | 'non-ascii'
  | 'confusable'
  | 'control-char'
  | 'zero-width'
  | 'bidi-control'
  | 'whitespace'
  | 'lone-surrogate';

const FLAG_ORDER: readonly NameFlag[] = [
  'empty',
  'too-long',
  'outside-spec-charset',
  'non-ascii',
  'confusable',
  'control-char',
  'zero-width',
  'bidi-control',
  'whitespace',
  'lone-surrogate',
];

function isSpecCode(c: number): boolean {
  return isSafeCode(c) || c === 0x2e; // the spec also allows "."
}

function isZeroWidth(cp: number): boolean {
  return (
    (cp >= 0x200b && cp <= 0x200d) ||
    (cp >= 0x2060 && cp <= 0x2064) ||
    cp === 0xfeff ||
    cp === 0x180e ||
    cp === 0x00ad ||
    cp === 0x034f ||
    (cp >= 0xfe00 && cp <= 0xfe0f) || // variation selectors
    (cp >= 0xe0000 && cp <= 0xe007f) // tag characters (invisible "ASCII smuggling")
  );
}

function isBidi(cp: number): boolean {
  return cp === 0x200e || cp === 0x200f || cp === 0x061c || (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

function isUnicodeSpace(cp: number): boolean {
  return cp === 0x20 || cp === 0xa0 || cp === 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp === 0x2028 || cp === 0x2029 || cp === 0x202f || cp === 0x205f || cp === 0x3000;
}

/**
 * Characters commonly used to imitate Latin letters and digits: Cyrillic, Greek and Armenian
 * letters, Latin-1/Extended letters with marks, fullwidth forms, mathematical alphanumerics and
 * combining marks. Not exhaustive (that is Unicode's confusables table); any non-ASCII character
 * is flagged as `non-ascii` anyway, this only raises its severity.
 */
function isConfusable(cp: number): boolean {
  return (
    (cp >= 0x00c0 && cp <= 0x024f) || // Latin-1 supplement letters, Latin Extended-A/B
    (cp >= 0x0250 && cp <= 0x02af) || // IPA
    (cp >= 0x0300 && cp <= 0x036f) || // combining diacritics
    (cp >= 0x0370 && cp <= 0x03ff) || // Greek
    (cp >= 0x0400 && cp <= 0x052f) || // Cyrillic
    (cp >= 0x0530 && cp <= 0x058f) || // Armenian
    (cp >= 0x13a0 && cp <= 0x13ff) || // Cherokee
    (cp >= 0x1d00 && cp <= 0x1dbf) || // phonetic extensions
    (cp >= 0x1e00 && cp <= 0x1eff) || // Latin Extended Additional
    (cp >= 0x2100 && cp <= 0x214f) || // letterlike symbols (ℓ, K Kelvin sign…)
    (cp >= 0x2160 && cp <= 0x218f) || // Roman numerals
    (cp >= 0xff01 && cp <= 0xff5e) || // fullwidth ASCII
    (cp >= 0x1d400 && cp <= 0x1d7ff) // mathematical alphanumerics
  );
}

/**
 * Why an upstream's tool or prompt name deserves attention (security-checklist.md E4): outside
 * the spec's `[A-Za-z0-9_.-]{1,128}`, non-ASCII (any character above 0x7E), likely homoglyphs,
 * control, zero-width, bidirectional-override or whitespace characters, lone surrogates. Empty
 * array: nothing suspicious. Reasons come in a fixed order, each at most once.
 */
export function flagSuspiciousName(original: string): NameFlag[] {
  const found = new Set<NameFlag>();
  if (original.length === 0) found.add('empty');
  if (original.length > 128) found.add('too-long');
  for (let i = 0; i < original.length; i++) {
    const c = original.charCodeAt(i);
    if (isSpecCode(c)) continue;
    found.add('outside-spec-charset');
    let cp = c;
    if (c >= 0xd800 && c <= 0xdbff) {
      const lo = original.charCodeAt(i + 1);
      if (lo >= 0xdc00 && lo <= 0xdfff) {
        cp = ((c - 0xd800) << 10) + (lo - 0xdc00) + 0x10000;
        i++;
      } else {
        found.add('lone-surrogate');
        continue;
      }
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      found.add('lone-surrogate');
      continue;
    }
    if (cp > 0x7e) found.add('non-ascii');
    if (cp < 0x20 || cp === 0x7f || (cp >= 0x80 && cp <= 0x9f)) found.add('control-char');
    if (isZeroWidth(cp)) found.add('zero-width');
    if (isBidi(cp)) found.add('bidi-control');
    if (isUnicodeSpace(cp) || cp === 0x09) found.add('whitespace');
    if (isConfusable(cp)) found.add('confusable');
  }
  return FLAG_ORDER.filter((f) => found.has(f));
}
