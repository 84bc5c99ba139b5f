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
 *    patterns with nested or alternating repetition (`(a+)+`, `(a|a)*`) never do: such a string
 *    fails the check, and such a pattern without a linear twin (or with a backreference) does not
 *    compile at all — calls to the tool are refused (fail closed);
 *  - patterns longer than MAX_PATTERN_LENGTH are refused; strings longer than MAX_PATTERN_INPUT fail.
 */
import { setFlagsFromString } from 'node:v8';
import type { RegExpEngine, RegExpLike } from 'ajv/dist/types/index.js';

export const MAX_PATTERN_LENGTH = 1024;
/** Longest string tested against a pattern with the linear engine. */
export const MAX_PATTERN_INPUT = 16_384;
/** Longest string tested with the backtracking engine (polynomial patterns stay in milliseconds). */
export const MAX_BACKTRACK_INPUT = 512;

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

/**
 * Why the backtracking engine must not run a pattern (nested or alternating repetition, a
 * backreference), or undefined. A heuristic, not a proof: input bounds back it up. Exported for tests.
 */
export function unsafePatternReason(pattern: string): string | undefined {
  // One frame per open group: does it repeat anything inside, does it hold an alternation.
  const stack: { repeats: boolean; alternates: boolean }[] = [{ repeats: false, alternates: false }];
  let i = 0;
  // Reads a quantifier at `i` (if any); true when it can repeat its atom more than once.
  const quantifier = (): boolean => {
    const c = pattern[i];
    if (c === '*' || c === '+') {
      i++;
      if (pattern[i] === '?') i++;
      return true;
    }
    if (c === '?') {
      i++;
      if (pattern[i] === '?') i++;
      return false;
    }
    if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}\??/.exec(pattern.slice(i, i + 32));
      if (!m) return false;
      i += m[0].length;
      if (m[2] === undefined) return Number(m[1]) > 1;
      return m[3] === '' || Number(m[3]) > 1;
    }
    return false;
  };
  while (i < pattern.length) {
    const c = pattern[i];
    const top = stack[stack.length - 1]!;
    if (c === '\\') {
      const n = pattern[i + 1] ?? '';
      if ((n >= '1' && n <= '9') || n === 'k') return 'backreference';
      i += 2;
      if (n === 'u' && pattern[i] === '{') i = pattern.indexOf('}', i) + 1 || pattern.length;
      else if (n === 'p' || n === 'P') i = pattern[i] === '{' ? pattern.indexOf('}', i) + 1 || pattern.length : i;
      if (quantifier()) top.repeats = true;
      continue;
    }
    if (c === '[') {
      i++;
      if (pattern[i] === '^') i++;
      if (pattern[i] === ']') i++;
      while (i < pattern.length && pattern[i] !== ']') i += pattern[i] === '\\' ? 2 : 1;
      i++;
      if (quantifier()) top.repeats = true;
      continue;
    }
    if (c === '(') {
      if (stack.length > 64) return 'groups nested too deeply';
      i++;
      if (pattern[i] === '?') {
        // Non-capturing, lookaround or named group: skip the marker.
        i++;
        if (pattern[i] === '<' && pattern[i + 1] !== '=' && pattern[i + 1] !== '!') i = pattern.indexOf('>', i) + 1 || pattern.length;
        else i += pattern[i] === '<' ? 2 : 1;
      }
      stack.push({ repeats: false, alternates: false });
      continue;
    }
    if (c === ')') {
      i++;
      if (stack.length === 1) return undefined; // unbalanced: the RegExp constructor reports it
      const inner = stack.pop()!;
      const outer = stack[stack.length - 1]!;
      if (quantifier()) {
        if (inner.repeats) return 'nested repetition';
        if (inner.alternates) return 'repeated alternation';
        outer.repeats = true;
      } else if (inner.repeats) {
        outer.repeats = true;
      }
      continue;
    }
    if (c === '|') top.alternates = true;
    i++;
    if (c !== '|' && c !== '^' && c !== '$' && quantifier()) top.repeats = true;
  }
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
  ) {
    super(pattern, flags);
  }

  override test(s: string): boolean {
    if (s.length > MAX_PATTERN_INPUT) return false;
    if (this.linear && !SURROGATE.test(s)) return this.linear.test(s);
    if (this.backtrackUnsafe || s.length > MAX_BACKTRACK_INPUT) return false;
    return super.test(s);
  }
}

function guardedRegExp(pattern: string, flags: string): RegExpLike {
  if (pattern.length > MAX_PATTERN_LENGTH) throw new Error(`pattern refused: longer than ${MAX_PATTERN_LENGTH} characters`);
  const why = unsafePatternReason(pattern);
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
  return new GuardedRegExp(pattern, flags, linear, why !== undefined);
}

/**
 * ajv's `code.regExp` engine (`code` names it in standalone code, which the gateway never emits).
 */
export const safeRegExp: RegExpEngine = Object.assign(guardedRegExp, { code: 'safeRegExp' });
