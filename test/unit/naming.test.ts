import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EXPOSED_NAME_RE, assignNames, exposedName, flagSuspiciousName } from '../../src/mcp/naming.js';

const anyName = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'binary', maxLength: 150 }),
  fc.stringMatching(/^[a-zA-Z0-9_.-]{0,130}$/),
);
const prefix = fc.stringMatching(/^[a-zA-Z0-9_-]{0,32}$/);
const separator = fc.constantFrom('__', '_', '-', '--', '_-_');

test('safe short names pass through unchanged', () => {
  assert.equal(exposedName('github', '__', 'search_issues'), 'github__search_issues');
  assert.equal(exposedName('', '__', 'search'), 'search');
  assert.equal(exposedName('gh', '__', ''), 'gh__');
});

test('sanitised names get a stable hash of the original', () => {
  const dotted = exposedName('fs', '__', 'read.file');
  assert.match(dotted, /^fs__read_file-[0-9a-f]{8}$/);
  assert.equal(exposedName('fs', '__', 'read.file'), dotted, 'deterministic');
  // "read.file" and "read_file" must not meet by sanitising alone
  assert.notEqual(dotted, exposedName('fs', '__', 'read_file'));
  assert.notEqual(dotted, exposedName('fs', '__', 'read file'));
  assert.match(exposedName('', '__', 'héllo'), /^h_llo-[0-9a-f]{8}$/);
});

test('empty original without prefix is still valid', () => {
  const n = exposedName('', '__', '');
  assert.match(n, EXPOSED_NAME_RE);
  assert.match(n, /^_-[0-9a-f]{8}$/);
});

test('long names are cut to 64 with a hash, distinct heads preserved', () => {
  const a = exposedName('p', '__', 'x'.repeat(100) + 'a');
  const b = exposedName('p', '__', 'x'.repeat(100) + 'b');
  assert.equal(a.length, 64);
  assert.equal(b.length, 64);
  assert.notEqual(a, b);
  assert.ok(a.startsWith('p__xxxx'));
  assert.equal(exposedName('', '_', 'y'.repeat(64)), 'y'.repeat(64), 'exactly 64 is kept');
  assert.equal(exposedName('', '_', 'y'.repeat(65)).length, 64);
});

test('property: exposedName always matches the client regex and is deterministic', () => {
  fc.assert(
    fc.property(prefix, separator, anyName, (p, s, o) => {
      const n = exposedName(p, s, o);
      assert.match(n, EXPOSED_NAME_RE);
      assert.equal(exposedName(p, s, o), n);
    }),
    { numRuns: 500 },
  );
});

test('assignNames resolves collisions deterministically and reports them', () => {
  const entries = [
    { key: 'b\u0000x', prefix: 'a', original: 'x' },
    { key: 'a\u0000x', prefix: 'a', original: 'x' },
    { key: 'c\u0000y', prefix: 'a', original: 'x-2' }, // already owns what would be the first suffix
    { key: 'd\u0000z', prefix: 'q', original: 'z' },
  ];
  const { names, collisions } = assignNames(entries, '__');
  assert.equal(names.get('a\u0000x'), 'a__x');
  assert.equal(names.get('c\u0000y'), 'a__x-2');
  assert.equal(names.get('b\u0000x'), 'a__x-3');
  assert.equal(names.get('d\u0000z'), 'q__z');
  assert.deepEqual(collisions, [{ exposed: 'a__x', keys: ['a\u0000x', 'b\u0000x'], resolvedTo: ['a__x', 'a__x-3'] }]);
});

test('assignNames re-shortens suffixed names to stay within 64', () => {
  const long = 'n'.repeat(70);
  const { names, collisions } = assignNames(
    [
      { key: 'k1', prefix: '', original: long },
      { key: 'k2', prefix: '', original: long },
      { key: 'k3', prefix: '', original: long },
    ],
    '__',
  );
  const all = [...names.values()];
  assert.equal(new Set(all).size, 3);
  for (const n of all) assert.match(n, EXPOSED_NAME_RE);
  assert.equal(collisions.length, 1);
  assert.deepEqual(collisions[0]!.keys, ['k1', 'k2', 'k3']);
  assert.ok(collisions[0]!.resolvedTo[1]!.endsWith('-2'));
});

const entryList = fc.uniqueArray(
  fc.record({
    key: fc.string({ minLength: 1, maxLength: 12 }),
    prefix: fc.constantFrom('', 'a', 'b', 'a_', 'a__b'),
    // a small alphabet so that collisions actually happen
    original: fc.oneof(fc.stringMatching(/^[ab._ -]{0,6}$/), fc.constant('x'.repeat(70)), fc.constant('x'.repeat(69) + '.')),
  }),
  { selector: (e) => e.key, maxLength: 25 },
);

test('property: assignNames is valid, injective and permutation-invariant', () => {
  fc.assert(
    fc.property(entryList, separator, fc.nat(), (entries, sep, seed) => {
      const { names, collisions } = assignNames(entries, sep);
      assert.equal(names.size, entries.length);
      const values = [...names.values()];
      for (const v of values) assert.match(v, EXPOSED_NAME_RE);
      assert.equal(new Set(values).size, values.length, 'injective');
      // a deterministic shuffle of the input
      const shuffled = [...entries];
      let s = seed;
      for (let i = shuffled.length - 1; i > 0; i--) {
        s = (s * 1103515245 + 12345) % 2147483648;
        const j = s % (i + 1);
        [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
      }
      const again = assignNames(shuffled, sep);
      assert.deepEqual([...again.names.entries()].sort(), [...names.entries()].sort());
      assert.deepEqual(again.collisions, collisions);
      for (const c of collisions) {
        assert.equal(c.keys.length, c.resolvedTo.length);
        assert.ok(c.keys.length >= 2);
        c.keys.forEach((k, i) => assert.equal(names.get(k), c.resolvedTo[i]));
      }
    }),
    { numRuns: 300 },
  );
});

test('flagSuspiciousName', () => {
  assert.deepEqual(flagSuspiciousName('read_file.v2-beta'), []);
  assert.deepEqual(flagSuspiciousName(''), ['empty']);
  assert.deepEqual(flagSuspiciousName('a'.repeat(129)), ['too-long']);
  assert.deepEqual(flagSuspiciousName('a/b'), ['outside-spec-charset']);
  // Cyrillic "е" imitating Latin "e"
  assert.deepEqual(flagSuspiciousName('s\u0435nd_email'), ['outside-spec-charset', 'non-ascii', 'confusable']);
  assert.deepEqual(flagSuspiciousName('send\u200bemail'), ['outside-spec-charset', 'non-ascii', 'zero-width']);
  assert.deepEqual(flagSuspiciousName('send\u202eemail'), ['outside-spec-charset', 'non-ascii', 'bidi-control']);
  assert.deepEqual(flagSuspiciousName('send email'), ['outside-spec-charset', 'whitespace']);
  assert.deepEqual(flagSuspiciousName('a\nb'), ['outside-spec-charset', 'control-char']);
  assert.deepEqual(flagSuspiciousName('a\ud800b'), ['outside-spec-charset', 'lone-surrogate']);
  assert.deepEqual(flagSuspiciousName('\uff53end'), ['outside-spec-charset', 'non-ascii', 'confusable']);
  assert.deepEqual(flagSuspiciousName('\u{1d42c}end'), ['outside-spec-charset', 'non-ascii', 'confusable']);
  assert.deepEqual(flagSuspiciousName('tag\u{e0041}'), ['outside-spec-charset', 'non-ascii', 'zero-width']);
});

test('property: flagSuspiciousName is empty exactly for spec-valid names', () => {
  fc.assert(
    fc.property(anyName, (n) => {
      const valid = /^[A-Za-z0-9_.-]{1,128}$/.test(n);
      assert.equal(flagSuspiciousName(n).length === 0, valid);
    }),
    { numRuns: 500 },
  );
});

test('assignNames never gives a reserved name: the keys that map to one all take suffixes', () => {
  const entries = [
    { key: 'p\u0000x', prefix: 'a', original: 'x' },
    { key: 'q\u0000x', prefix: 'a', original: 'x' },
    { key: 'r\u0000y', prefix: 'a', original: 'y' },
  ];
  const { names, collisions } = assignNames(entries, '__', new Set(['a__x', 'a__x-2']));
  assert.equal(names.get('p\u0000x'), 'a__x-3');
  assert.equal(names.get('q\u0000x'), 'a__x-4');
  assert.equal(names.get('r\u0000y'), 'a__y');
  assert.deepEqual(collisions, [{ exposed: 'a__x', keys: ['p\u0000x', 'q\u0000x'], resolvedTo: ['a__x-3', 'a__x-4'] }]);
});

test('property: with reserved names, assignNames stays valid and injective and avoids them all', () => {
  fc.assert(
    fc.property(entryList, entryList, separator, (earlier, later, sep) => {
      const first = assignNames(earlier, sep);
      const reserved = new Set(first.names.values());
      const { names } = assignNames(later, sep, reserved);
      assert.equal(names.size, later.length);
      const values = [...names.values()];
      for (const v of values) assert.match(v, EXPOSED_NAME_RE);
      assert.equal(new Set(values).size, values.length, 'injective');
      for (const v of values) assert.ok(!reserved.has(v), `${v} is reserved`);
    }),
    { numRuns: 300 },
  );
});
