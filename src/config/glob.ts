/**
 * Name globs for virtual-server selectors: `*` (any run, including empty) and `?` (exactly one
 * character); every other character is literal. Patterns come from config and names from
 * upstreams, so matching never builds a RegExp: a greedy two-pointer matcher that remembers only
 * the last `*` runs in O(pattern × name) worst case with no exponential backtracking (checklist C7).
 */

/** True when the name is selected. */
export type GlobMatcher = (name: string) => boolean;

/** Matches one pattern against one name. Exported for tests. */
export function globMatch(pattern: string, name: string): boolean {
  // Iterate by code point so `?` matches one character even outside the BMP.
  const p = Array.from(pattern);
  const s = Array.from(name);
  let pi = 0;
  let si = 0;
  let starP = -1; // position in p just after the last `*` seen
  let starS = 0; // position in s that the last `*` currently extends to
  while (si < s.length) {
    const pc = p[pi];
    if (pc === '*') {
      starP = ++pi;
      starS = si;
    } else if (pc !== undefined && (pc === '?' || pc === s[si])) {
      pi++;
      si++;
    } else if (starP !== -1) {
      // Let the last `*` swallow one more character and retry from just after it.
      pi = starP;
      si = ++starS;
    } else {
      return false;
    }
  }
  while (p[pi] === '*') pi++;
  return pi === p.length;
}

/**
 * Compiles a list of globs into one matcher that selects a name matching any of them. An empty
 * list matches nothing (fail closed: an empty allowlist selects nothing).
 */
export function compileGlob(patterns: readonly string[]): GlobMatcher {
  const list = Object.freeze([...patterns]);
  const exact = new Set(list.filter((x) => !x.includes('*') && !x.includes('?')));
  const wild = list.filter((x) => !exact.has(x));
  return (name: string) => exact.has(name) || wild.some((x) => globMatch(x, name));
}
