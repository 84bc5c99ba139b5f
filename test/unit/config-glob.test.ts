import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileGlob, globMatch } from '../../src/config/glob.js';

/** Reference semantics: a plain dynamic program over code points, obviously correct and slow. */
function reference(pattern: string, name: string): boolean {
  const p = Array.from(pattern);
  const s = Array.from(name);
  // m[i][j]: p[i..] matches s[j..]
  const m: boolean[][] = Array.from({ length: p.length + 1 }, () => new Array<boolean>(s.length + 1).fill(false));
  m[p.length]![s.length] = true;
  for (let i = p.length - 1; i >= 0; i--) {
    for (let j = s.length; j >= 0; j--) {
      const c = p[i];
      if (c === '*') m[i]![j] = m[i + 1]![j]! || (j < s.length && m[i]![j + 1]!);
      else m[i]![j] = j < s.length && (c === '?' || c === s[j]) && m[i + 1]![j + 1]!;
    }
  }
  return m[0]![0]!;
}

test('globMatch: literal, star and question mark', () => {
  assert.equal(globMatch('files__read', 'files__read'), true);
  assert.equal(globMatch('files__read', 'files__reads'), false);
  assert.equal(globMatch('files__*', 'files__read'), true);
  assert.equal(globMatch('files__*', 'files__'), true);
  assert.equal(globMatch('files__*', 'file__read'), false);
  assert.equal(globMatch('*_list_*', 'a_list_b'), true);
  assert.equal(globMatch('read?', 'read1'), true);
  assert.equal(globMatch('read?', 'read'), false);
  assert.equal(globMatch('*', ''), true);
  assert.equal(globMatch('', ''), true);
  assert.equal(globMatch('', 'a'), false);
  assert.equal(globMatch('?', '😀'), true);
});

test('globMatch treats regex metacharacters literally', () => {
  assert.equal(globMatch('a.b', 'a.b'), true);
  assert.equal(globMatch('a.b', 'axb'), false);
  assert.equal(globMatch('(a|b)+', '(a|b)+'), true);
  assert.equal(globMatch('[ab]', 'a'), false);
});

test('compileGlob selects names matching any pattern; an empty list selects nothing', () => {
  const m = compileGlob(['git__*', 'search__query', 'fs__read?']);
  assert.equal(m('git__log'), true);
  assert.equal(m('search__query'), true);
  assert.equal(m('fs__read1'), true);
  assert.equal(m('fs__write'), false);
  assert.equal(compileGlob([])('anything'), false);
});

test('globMatch agrees with the reference on random patterns and names', () => {
  const alphabet = fc.constantFrom('a', 'b', '_', '*', '?', '.', '😀');
  const nameChars = fc.constantFrom('a', 'b', '_', '.', '*', '?', '😀');
  fc.assert(
    fc.property(fc.array(alphabet, { maxLength: 12 }), fc.array(nameChars, { maxLength: 16 }), (p, s) => {
      const pattern = p.join('');
      const name = s.join('');
      assert.equal(globMatch(pattern, name), reference(pattern, name), `${pattern} vs ${name}`);
    }),
    { numRuns: 2000 },
  );
});

test('globMatch finishes quickly on inputs that make backtracking regexes explode', () => {
  // A catastrophic case for naive recursive matchers: many stars and a near-miss name. Bounded
  // by count, not by time: the matcher is O(pattern × name), so this completes in one pass.
  const pattern = `${'a*'.repeat(50)}b`;
  const name = 'a'.repeat(5000);
  assert.equal(globMatch(pattern, name), false);
  assert.equal(globMatch(pattern, `${name}b`), true);
});
