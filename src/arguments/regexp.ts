/**
 * The regular-expression engine ajv uses for `pattern`, `patternProperties` and `propertyNames` in
 * tool input schemas. Those patterns come from upstreams, so they are untrusted: V8's backtracking
 * engine takes exponential time on `^(a+)+$` and polynomial time on `\d+\d+x` (97 s on 8 KiB
 * of digits). No RE2 binding is installed, so:
 *
 *  - V8's own linear-time engine (the `l` flag, behind `--enable-experimental-regexp-engine`, which
 *    this module switches on: it only makes the `l` flag available) runs every pattern it can, on
 *    every string without surrogates. It has no `u` mode on Node 20, so the `l` twin is used only
 *    where `u` and non-`u` agree: patterns without `\u{…}`, `\p{…}`, on surrogate-free input;
 *  - everything else runs on the backtracking engine, on at most MAX_BACKTRACK_INPUT code units;
 *    patterns with nested or alternating repetition (`(a+)+`, `(a|a)*`), with three or more unbounded
 *    quantifiers in one scope (`^(?=a)a*a*a*!`: O(n^k) when backtracked)
 *    never do: such a string fails the check, and such a pattern without a linear twin (or with a
 *    backreference) does not compile at all — calls to the tool are refused (fail closed);
 *  - patterns longer than MAX_PATTERN_LENGTH are refused; strings longer than MAX_PATTERN_INPUT fail.
 */
import { setFlagsFromString } from 'node:v8';
import type { RegExpEngine, RegExpLike } from 'ajv/dist/types/index.js';

export const MAX_PATTERN_LENGTH = 1024;
/** Longest string tested against a pattern with the linear engine. */
export const MAX_PATTERN_INPUT = 16_384;
/** Longest string tested with the backtracking engine (polynomial patterns stay in milliseconds). */
export const MAX_BACKTRACK_INPUT = 512;
/** The same for a pattern with two unbounded quantifiers in one scope (O(n³) over a search: 140 ms at 512, about 3 ms at 128). */
export const MAX_BACKTRACK_INPUT_QUADRATIC = 128;

// A variable, not a literal: the flag exists only once the engine is switched on.
const LINEAR_FLAG = 'l';

function linearEngine(): boolean {
  try {
    new RegExp('a', LINEAR_FLAG);
    return true;
  } catch {
    // not enabled yet
  }
  try {
    setFlagsFromString('--enable-experimental-regexp-engine');
    new RegExp('a', LINEAR_FLAG);
    return true;
  } catch {
    return false;
  }
}

/** True when V8's linear-time engine is available (exported for tests and docs). */
export const LINEAR_ENGINE = linearEngine();

/** What one pass over a pattern finds (see scanPattern). */
interface PatternScan {
  /** Nested or alternating repetition, a backreference, deep nesting: the backtracking engine must not run it. */
  unsafe?: string;
  /**
   * The most unbounded quantifiers (`*`, `+`, `{n,}`, lazy or not; outside character classes) in
   * one scope: the pattern itself, or one lookaround's body. Groups count into their scope; a
   * lookaround is matched on its own (it is not backtracked into), so its count does not add to
   * the scope around it. k of them in one scope can cost O(n^k) on the backtracking engine.
   */
  unbounded: number;
}

// A counted quantifier at lastIndex: `{n}`, `{n,}`, `{n,m}`, lazy or not (any number of digits).
const COUNTED = /\{(\d+)(,(\d*))?\}\??/y;

/**
 * One pass over a pattern: escapes (`\*`) and character classes (`[*+]`, `[^]`, `[\]*]`) are
 * atoms, never quantifiers. Returns early (with `unsafe`) on the first unsafe construct.
 */
function scanPattern(pattern: string): PatternScan {
  // One frame per open group: does it repeat anything inside, hold an alternation; how many
  // unbounded quantifiers it holds; whether it is a lookaround (a scope of its own).
  type Frame = { repeats: boolean; alternates: boolean; unbounded: number; lookaround: boolean };
  const stack: Frame[] = [{ repeats: false, alternates: false, unbounded: 0, lookaround: false }];
  const out: PatternScan = { unbounded: 0 };
  const done = (): PatternScan => ({ ...out, unbounded: Math.max(out.unbounded, stack[0]!.unbounded) });
  let i = 0;
  // Reads a quantifier at `i` (if any): whether there is one, whether it can repeat its atom more
  // than once, whether it is unbounded.
  const quantifier = (): { present: boolean; repeats: boolean; unbounded: boolean } => {
    const c = pattern[i];
    if (c === '*' || c === '+') {
      i++;
      if (pattern[i] === '?') i++;
      return { present: true, repeats: true, unbounded: true };
    }
    if (c === '?') {
      i++;
      if (pattern[i] === '?') i++;
      return { present: true, repeats: false, unbounded: false };
    }
    if (c === '{') {
      COUNTED.lastIndex = i;
      const m = COUNTED.exec(pattern);
      if (!m) return { present: false, repeats: false, unbounded: false };
      i += m[0].length;
      if (m[2] === undefined) return { present: true, repeats: Number(m[1]) > 1, unbounded: false };
      const unbounded = m[3] === '';
      return { present: true, repeats: unbounded || Number(m[3]) > 1, unbounded };
    }
    return { present: false, repeats: false, unbounded: false };
  };
  // A quantifier after a plain atom (character, escape, class).
  const atomQuantifier = (top: Frame): void => {
    const q = quantifier();
    if (q.repeats) top.repeats = true;
    if (q.unbounded) top.unbounded++;
  };
  while (i < pattern.length) {
    const c = pattern[i];
    const top = stack[stack.length - 1]!;
    if (c === '\\') {
      const n = pattern[i + 1] ?? '';
      if ((n >= '1' && n <= '9') || n === 'k') return { ...out, unsafe: 'backreference' };
      i += 2;
      if (n === 'u' && pattern[i] === '{') i = pattern.indexOf('}', i) + 1 || pattern.length;
      else if (n === 'p' || n === 'P') i = pattern[i] === '{' ? pattern.indexOf('}', i) + 1 || pattern.length : i;
      atomQuantifier(top);
      continue;
    }
    if (c === '[') {
      // In JavaScript a `]` right after `[` or `[^` closes the class (`[]` matches nothing, `[^]` anything).
      i++;
      if (pattern[i] === '^') i++;
      while (i < pattern.length && pattern[i] !== ']') i += pattern[i] === '\\' ? 2 : 1;
      i++;
      atomQuantifier(top);
      continue;
    }
    if (c === '(') {
      if (stack.length > 64) return { ...out, unsafe: 'groups nested too deeply' };
      i++;
      let lookaround = false;
      if (pattern[i] === '?') {
        // Non-capturing, lookaround or named group: skip the marker.
        i++;
        lookaround = pattern[i] === '=' || pattern[i] === '!' || (pattern[i] === '<' && (pattern[i + 1] === '=' || pattern[i + 1] === '!'));
        if (pattern[i] === '<' && pattern[i + 1] !== '=' && pattern[i + 1] !== '!') i = pattern.indexOf('>', i) + 1 || pattern.length;
        else i += pattern[i] === '<' ? 2 : 1;
      }
      stack.push({ repeats: false, alternates: false, unbounded: 0, lookaround });
      continue;
    }
    if (c === ')') {
      i++;
      if (stack.length === 1) return done(); // unbalanced: the RegExp constructor reports it
      const inner = stack.pop()!;
      const outer = stack[stack.length - 1]!;
      const q = quantifier();
      if (q.repeats) {
        if (inner.repeats) return { ...out, unsafe: 'nested repetition' };
        if (inner.alternates) return { ...out, unsafe: 'repeated alternation' };
        outer.repeats = true;
      } else if (inner.repeats) {
        outer.repeats = true;
      }
      // A lookaround's body is a scope of its own; a group's quantifiers count in the scope around it.
      if (inner.lookaround) out.unbounded = Math.max(out.unbounded, inner.unbounded);
      else outer.unbounded += inner.unbounded;
      if (q.unbounded) outer.unbounded++;
      continue;
    }
    if (c === '|') top.alternates = true;
    i++;
    if (c !== '|' && c !== '^' && c !== '$') atomQuantifier(top);
  }
  return done();
}

/**
 * Why the backtracking engine must not run a pattern (nested or alternating repetition, a
 * backreference), or undefined. A heuristic, not a proof: input bounds back it up. Exported for tests.
 */
export function unsafePatternReason(pattern: string): string | undefined {
  return scanPattern(pattern).unsafe;
}

/** The most unbounded quantifiers in one scope of a pattern (see PatternScan). */
function unboundedInOneScope(pattern: string): number {
  return scanPattern(pattern).unbounded;
}

/** Unbounded quantifiers in one scope from which a pattern counts as slow (see slowPatternReason). */
export const SLOW_UNBOUNDED = 3;

/**
 * Why the backtracking engine may take polynomial time on a pattern, or undefined: SLOW_UNBOUNDED
 * or more unbounded quantifiers in one scope (`^(?=a)a*a*a*a*a*!`: a search over 512 characters
 * ran for seconds). Two cost at most O(n^3) over the bounded input of a search, a lookaround's
 * body is its own scope, so `^(?=.*[A-Z])(?=.*\d).{8,}$` and `\p{L}+ \p{L}+` stay accepted.
 * Such a pattern runs only on the linear engine: without a linear-time form it is refused, like
 * an unsafe one. Includes unsafePatternReason. Exported for tests.
 */
export function slowPatternReason(pattern: string): string | undefined {
  const s = scanPattern(pattern);
  if (s.unsafe) return s.unsafe;
  if (s.unbounded >= SLOW_UNBOUNDED) return 'several unbounded quantifiers in sequence';
  return undefined;
}

const SURROGATE = /[\uD800-\uDFFF]/;
// Only in `u` mode do these mean what the schema author meant.
const UNICODE_ONLY = /\\[pP]\{|\\u\{/;

/**
 * A `u` RegExp (ajv keys its pattern cache by toString(), so it must be one) whose test() picks
 * the safe way to run, or fails the check when there is none.
 */
class GuardedRegExp extends RegExp {
  constructor(
    pattern: string,
    flags: string,
    private readonly linear: RegExp | undefined,
    private readonly backtrackUnsafe: boolean,
    /** Longest input the backtracking engine gets for this pattern. */
    private readonly maxBacktrack: number,
  ) {
    super(pattern, flags);
  }

  override test(s: string): boolean {
    if (s.length > MAX_PATTERN_INPUT) return false;
    if (this.linear && !SURROGATE.test(s)) return this.linear.test(s);
    if (this.backtrackUnsafe || s.length > this.maxBacktrack) return false;
    return super.test(s);
  }
}

function guardedRegExp(pattern: string, flags: string): RegExpLike {
  if (pattern.length > MAX_PATTERN_LENGTH) throw new Error(`pattern refused: longer than ${MAX_PATTERN_LENGTH} characters`);
  const why = slowPatternReason(pattern);
  if (why === 'backreference') throw new Error(`pattern refused (backreference): ${pattern.slice(0, 64)}`);
  new RegExp(pattern, flags); // a syntax error surfaces here, with the schema's own flags
  let linear: RegExp | undefined;
  if (LINEAR_ENGINE && !UNICODE_ONLY.test(pattern)) {
    try {
      linear = new RegExp(pattern, flags.replace('u', '') + LINEAR_FLAG);
    } catch {
      // lookarounds and large counted repetitions have no linear form
    }
  }
  if (why && !linear) throw new Error(`pattern refused (${why}, no linear-time form): ${pattern.slice(0, 64)}`);
  // Two unbounded quantifiers in one scope cost O(n³) over a search: a shorter bound.
  const maxBacktrack = unboundedInOneScope(pattern) >= 2 ? MAX_BACKTRACK_INPUT_QUADRATIC : MAX_BACKTRACK_INPUT;
  return new GuardedRegExp(pattern, flags, linear, why !== undefined, maxBacktrack);
}

/**
 * ajv's `code.regExp` engine (`code` names it in standalone code, which the gateway never emits).
 */
export const safeRegExp: RegExpEngine = Object.assign(guardedRegExp, { code: 'safeRegExp' });
