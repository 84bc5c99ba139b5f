/** Tool-call arguments against untrusted upstream input schemas (security-checklist D2). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compiledSchema, validateArguments, MAX_SCHEMA_DEPTH } from '../../../src/arguments/validate.js';
import { LINEAR_ENGINE, MAX_BACKTRACK_INPUT, MAX_PATTERN_INPUT, MAX_PATTERN_LENGTH, slowPatternReason, unsafePatternReason } from '../../../src/arguments/regexp.js';
import { GatewayError } from '../../../src/pipeline/errors.js';

const gitLog = {
  type: 'object',
  properties: {
    repo_path: { type: 'string' },
    max_count: { type: 'integer', minimum: 1, maximum: 1000 },
    ref: { type: 'string', pattern: '^[A-Za-z0-9._/~^-]+$' },
    since: { type: 'string', format: 'date-time' },
  },
  required: ['repo_path'],
  additionalProperties: false,
};

function refusal(fn: () => unknown): GatewayError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof GatewayError, String(e));
    return e;
  }
  assert.fail('expected a refusal');
}

test('D2: valid arguments pass and are returned as validated', () => {
  const c = compiledSchema(gitLog);
  assert.equal(c.kind, 'ajv');
  const args = { repo_path: '/srv/repos/a', max_count: 5, ref: 'main', since: '2026-01-01T00:00:00Z' };
  assert.equal(validateArguments(c, 'git__git_log', args), args);
});

test('D2: invalid arguments → ERR_ARGUMENT_INVALID (-32602) naming the argument, keyword and a short message', () => {
  const c = compiledSchema(gitLog);
  const cases: [Record<string, unknown>, string, string][] = [
    [{ repo_path: 1 }, '/repo_path', 'type'],
    [{ repo_path: '/a', max_count: 0 }, '/max_count', 'minimum'],
    [{ repo_path: '/a', since: 'yesterday' }, '/since', 'format'],
    [{ repo_path: '/a', ref: 'a b' }, '/ref', 'pattern'],
    [{}, '', 'required'],
    [{ repo_path: '/a', extra: true }, '', 'additionalProperties'],
  ];
  for (const [args, path, keyword] of cases) {
    const e = refusal(() => validateArguments(c, 'git__git_log', args));
    assert.equal(e.code, 'ERR_ARGUMENT_INVALID');
    const rpc = e.toRpcError();
    assert.equal(rpc.code, -32602);
    const data = rpc.data as { tool: string; errors: { instancePath: string; keyword: string; message: string }[] };
    assert.equal(data.tool, 'git__git_log');
    assert.equal(data.errors.length, 1);
    assert.equal(data.errors[0]!.instancePath, path, JSON.stringify(args));
    assert.equal(data.errors[0]!.keyword, keyword);
    assert.ok(data.errors[0]!.message.length > 0 && data.errors[0]!.message.length <= 200);
  }
});

test('D2: a refusal never echoes a huge value, and its size is bounded', () => {
  const c = compiledSchema({ type: 'object', properties: { x: { type: 'string', enum: ['a', 'b'] } }, additionalProperties: false });
  const huge = 'A'.repeat(100_000);
  for (const args of [{ x: huge }, { [huge]: 1 }]) {
    const e = refusal(() => validateArguments(c, 't', args));
    const text = JSON.stringify(e.toRpcError());
    assert.ok(!text.includes('A'.repeat(300)), 'value or key echoed');
    assert.ok(text.length < 2000, `refusal is ${text.length} bytes`);
  }
});

test('missing arguments validate as {}; non-object arguments are refused', () => {
  const c = compiledSchema({ type: 'object', properties: { a: { type: 'string' } } });
  assert.deepEqual(validateArguments(c, 't', undefined), {});
  const req = compiledSchema({ type: 'object', properties: { a: { type: 'string' } }, required: ['a'] });
  assert.equal(refusal(() => validateArguments(req, 't', undefined)).code, 'ERR_ARGUMENT_INVALID');
  for (const bad of [[], 'x', 3, null]) assert.equal(refusal(() => validateArguments(c, 't', bad)).code, 'ERR_ARGUMENT_INVALID');
});

test('trivial schemas skip ajv; one schema object compiles once; identical schemas share one validator', () => {
  for (const s of [{}, { type: 'object' }, { type: 'object', properties: {}, additionalProperties: true, description: 'x' }]) {
    assert.equal(compiledSchema(s).kind, 'trivial', JSON.stringify(s));
  }
  const a = { type: 'object', properties: { q: { type: 'string', maxLength: 3 } } };
  const b = { properties: { q: { maxLength: 3, type: 'string' } }, type: 'object' }; // same, other key order
  const ca = compiledSchema(a);
  assert.equal(compiledSchema(a), ca);
  assert.equal(compiledSchema(b), ca);
  assert.equal(compiledSchema(structuredClone(a)), ca);
});

test('draft-07 schemas (common in the wild) validate; unknown dialects and keywords', () => {
  const c = compiledSchema({ $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', properties: { n: { type: 'number' } }, required: ['n'] });
  assert.equal(c.kind, 'ajv');
  validateArguments(c, 't', { n: 1 });
  assert.equal(refusal(() => validateArguments(c, 't', { n: 'x' })).code, 'ERR_ARGUMENT_INVALID');
  // strict: false — unknown keywords and formats are ignored, not fatal
  const u = compiledSchema({ type: 'object', properties: { a: { type: 'string', 'x-widget': 'big', format: 'no-such-format' } } });
  assert.equal(u.kind, 'ajv');
  validateArguments(u, 't', { a: 'anything' });
  const d4 = compiledSchema({ $schema: 'http://json-schema.org/draft-04/schema#', type: 'object', properties: { a: {} } });
  assert.equal(d4.kind, 'broken');
});

test('hostile schemas fail closed (ERR_UPSTREAM_PROTOCOL) instead of crashing or hanging', () => {
  let deep: Record<string, unknown> = { type: 'string' };
  for (let i = 0; i < MAX_SCHEMA_DEPTH + 5; i++) deep = { type: 'object', properties: { a: deep } };
  const hostile: unknown[] = [
    { type: 'object', properties: { a: { $ref: 'https://evil.example/schema.json' } } }, // remote $ref: never fetched
    { type: 'object', properties: { a: { type: 'string', pattern: '^(a+)+\\1$' } } }, // backreference
    { type: 'object', properties: { a: { type: 'string', pattern: '^(?=(a+)+$)' } } }, // nested repetition, no linear form
    { type: 'object', properties: { a: { type: 'string', pattern: 'x'.repeat(MAX_PATTERN_LENGTH + 1) } } },
    { type: 'object', properties: { a: { type: 'string', pattern: '([' } } }, // not a regex
    { type: 'object', properties: { a: { type: 'wat' } } }, // invalid against the meta-schema
    { type: 'object', properties: Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`p${i}`, { type: 'string', description: 'x'.repeat(20) }])) },
    deep,
    { type: 'array' }, // tools take an object
    undefined,
  ];
  for (const s of hostile) {
    const c = compiledSchema(s, {});
    assert.equal(c.kind, 'broken', JSON.stringify(s)?.slice(0, 80));
    const e = refusal(() => validateArguments(c, 'evil__tool', { a: 'x' }));
    assert.equal(e.code, 'ERR_UPSTREAM_PROTOCOL');
    assert.ok(e.message.includes('evil__tool'));
  }
});

test('a schema claiming the meta-schema $id does not break later schemas', () => {
  assert.equal(compiledSchema({ $id: 'https://json-schema.org/draft/2020-12/schema', type: 'object', properties: { z: { type: 'string' } } }).kind, 'ajv');
  assert.equal(compiledSchema({ $schema: 'http://json-schema.org/draft-07/schema#', $id: 'http://json-schema.org/draft-07/schema#', type: 'object', properties: { z: { type: 'number' } } }).kind, 'ajv');
  assert.equal(compiledSchema({ type: 'object', properties: { after: { type: 'string' } } }).kind, 'ajv');
  assert.equal(compiledSchema({ $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', properties: { after: { type: 'number' } } }).kind, 'ajv');
});

test('a $id cannot shadow another schema, and a repeated $id still compiles', () => {
  const one = compiledSchema({ $id: 'https://x.example/s', type: 'object', properties: { a: { type: 'string' } } });
  const two = compiledSchema({ $id: 'https://x.example/s', type: 'object', properties: { a: { type: 'number' } } });
  assert.equal(one.kind, 'ajv');
  assert.equal(two.kind, 'ajv');
  validateArguments(one, 't', { a: 's' });
  validateArguments(two, 't', { a: 1 });
});

test('ReDoS: nested or alternating repetition and backreferences are classified unsafe for backtracking', () => {
  for (const p of ['^(a+)+$', '(a*)*', '(\\w+\\s?)*$', '(a|a)*', '^(([a-z])+.)+[A-Z]([a-z])+$', '(x+x+)+y', '(a)\\1', '(?<n>a)\\k<n>', '(a{1,100}){1,100}']) {
    assert.ok(unsafePatternReason(p), p);
  }
  for (const p of ['^[A-Za-z0-9._/~^-]+$', '^\\d{4}-\\d{2}-\\d{2}$', '^(https?|ftp)://[^\\s]+$', '^[^#]*#?$', '^(?:[a-z]{2})?$', '\\p{L}+', '^[a-z]+(?:-[a-z]+)?$', '[(]+']) {
    assert.equal(unsafePatternReason(p), undefined, p);
  }
});

test('ReDoS: hostile patterns with hostile input finish (linear engine), keeping their meaning', { timeout: 20_000 }, () => {
  assert.ok(LINEAR_ENGINE, 'V8 linear-time RegExp engine available on this Node');
  const nested = compiledSchema({ type: 'object', properties: { s: { type: 'string', pattern: '^(a+)+$' } } });
  assert.equal(nested.kind, 'ajv');
  validateArguments(nested, 't', { s: 'aaaa' });
  assert.equal(refusal(() => validateArguments(nested, 't', { s: `${'a'.repeat(10_000)}!` })).code, 'ERR_ARGUMENT_INVALID');
  const poly = compiledSchema({ type: 'object', properties: { s: { type: 'string', pattern: '\\d+\\d+x' } } });
  validateArguments(poly, 't', { s: '12x' });
  assert.equal(refusal(() => validateArguments(poly, 't', { s: '1'.repeat(MAX_PATTERN_INPUT) })).code, 'ERR_ARGUMENT_INVALID');
  // Surrogates: the `u` meaning holds (one emoji is one character) ...
  const short = compiledSchema({ type: 'object', properties: { s: { type: 'string', pattern: '^.{1,3}$' } } });
  validateArguments(short, 't', { s: '\u{1F600}\u{1F600}\u{1F600}' });
  // ... but a backtracking-unsafe pattern is never run on them: the check fails instead.
  assert.equal(refusal(() => validateArguments(nested, 't', { s: 'aa\u{1F600}' })).code, 'ERR_ARGUMENT_INVALID');
  // and other patterns run on them with the backtracking engine only up to MAX_BACKTRACK_INPUT
  const any = compiledSchema({ type: 'object', properties: { s: { type: 'string', pattern: '^[^<]*$' } } });
  validateArguments(any, 't', { s: `\u{1F600}${'a'.repeat(MAX_BACKTRACK_INPUT - 2)}` });
  assert.equal(refusal(() => validateArguments(any, 't', { s: `\u{1F600}${'a'.repeat(MAX_BACKTRACK_INPUT)}` })).code, 'ERR_ARGUMENT_INVALID');
  // \p{…} has no non-`u` twin: it runs on the backtracking engine, and means what it says
  const letters = compiledSchema({ type: 'object', properties: { s: { type: 'string', pattern: '^\\p{L}+$' } } });
  validateArguments(letters, 't', { s: 'Grüße' });
  assert.equal(refusal(() => validateArguments(letters, 't', { s: 'a1' })).code, 'ERR_ARGUMENT_INVALID');
});

test('ReDoS: a pattern is never run on a string longer than MAX_PATTERN_INPUT', () => {
  const c = compiledSchema({ type: 'object', properties: { s: { type: 'string', pattern: '^a*$' } } });
  validateArguments(c, 't', { s: 'a'.repeat(MAX_PATTERN_INPUT) });
  const e = refusal(() => validateArguments(c, 't', { s: 'a'.repeat(MAX_PATTERN_INPUT + 1) }));
  assert.equal((e.data as { errors: { keyword: string }[] }).errors[0]!.keyword, 'pattern');
});

test('every pattern enforces itself (ajv keys its pattern cache by the RegExp text)', () => {
  const c1 = compiledSchema({ type: 'object', properties: { a: { type: 'string', pattern: '^x+$' } } });
  const c2 = compiledSchema({ type: 'object', properties: { a: { type: 'string', pattern: '^y+$' } } });
  validateArguments(c1, 't', { a: 'xx' });
  validateArguments(c2, 't', { a: 'yy' });
  assert.equal(refusal(() => validateArguments(c1, 't', { a: 'yy' })).code, 'ERR_ARGUMENT_INVALID');
  assert.equal(refusal(() => validateArguments(c2, 't', { a: 'xx' })).code, 'ERR_ARGUMENT_INVALID');
});

test('ajv instances are retired after many compilations; earlier validators keep working', () => {
  const first = compiledSchema({ type: 'object', properties: { n0: { type: 'integer' } }, required: ['n0'] });
  for (let i = 1; i <= 600; i++) assert.equal(compiledSchema({ type: 'object', properties: { [`n${i}`]: { type: 'integer' } }, required: [`n${i}`] }).kind, 'ajv');
  validateArguments(first, 't', { n0: 1 });
  assert.equal(refusal(() => validateArguments(first, 't', { n0: 'x' })).code, 'ERR_ARGUMENT_INVALID');
});

const withPattern = (pattern: string) => compiledSchema({ type: 'object', properties: { s: { type: 'string', pattern } } });

test('ReDoS: a pattern with no linear-time form and three or more unbounded quantifiers in one scope is refused', () => {
  const refused = [
    '^(?=a)a*a*a*a*a*!', // the reviewer's: O(n^5) on the backtracking engine
    '(?=a)a*a*a*!',
    '(?=a)(a*)(a*)(a*)!', // groups count into their scope
    '(?<=x)\\d+\\.\\d+\\.\\d+$',
    '(?!b)a*?a+?a*?!', // lazy forms
    '(?=a)a{1,}a{2,}?a{3,}!',
    `(?=a)a{${'0'.repeat(40)}1,}a{${'0'.repeat(40)}1,}a*!`, // long counts are still read as quantifiers
    '(?=a)(?:a+){2}!', // nested repetition
    '(?=a)(?:x|a*){1,3}!', // repeated alternation
    '(?=.*a.*a.*a)!', // a lookaround's body is a scope too
    '^\\p{L}+ \\p{L}+ \\p{L}+$', // \p{…} has no linear twin
    '^(?=a)[^]a*a*a*a*[^]!', // `[^]` is a whole class: what follows is not inside it
    '^(?=a)[]a*a*a*[]!',
  ];
  for (const p of refused) {
    const c = withPattern(p);
    assert.equal(c.kind, 'broken', p);
    assert.ok(c.kind === 'broken' && c.reason.includes('pattern refused') && c.reason.includes('no linear-time form'), p);
    assert.equal(refusal(() => validateArguments(c, 'up__search', { s: 'a'.repeat(100) })).code, 'ERR_UPSTREAM_PROTOCOL', p);
  }
});

test('ReDoS: patterns with one unbounded quantifier, or with a linear-time form, stay accepted', () => {
  const accepted: [string, string, string][] = [
    // [pattern, a matching string, a string that does not match]
    ['^(?=[*+])[*+]+\\*$', '+*', '*+'], // `*` and `+` inside a class are literals, not quantifiers
    ['^(?=a)a*\\*\\+\\{2,\\}$', 'aa*+{2,}', 'aa*+'], // escaped quantifier characters are literals
    ['^(?=.*\\d)[a-z0-9]{8,64}$', 'abcdefg1', 'abcdefgh'], // one unbounded, the rest bounded
    ['^(?!-)(?:[a-z]{1,3})?[a-z0-9]+$', 'ab12', '-ab'],
    ['^\\p{L}+$', 'Grüße', 'a1'],
    ['^(?=[\\]*+])[\\]*+]+x$', ']*x', '*]'], // an escaped `]` does not end the class
    ['^\\d+\\.\\d+$', '1.25', '1.'], // several quantifiers, but a linear-time form
    ['^[a-z]+(?:-[a-z]+)*$', 'a-b-c', 'a--b'],
    // No linear form, but at most two unbounded quantifiers per scope: a lookaround is its own scope.
    ['^(?=.*[A-Z])(?=.*\\d).{8,}$', 'Abcdefg1', 'abcdefgh'],
    ['^\\p{L}+ \\p{L}+$', 'Grüße Welt', 'Grüße'],
    ['^(?=a)(a+)?!$', 'aa!', 'b!'],
  ];
  for (const [p, yes, no] of accepted) {
    const c = withPattern(p);
    assert.equal(c.kind, 'ajv', p);
    validateArguments(c, 't', { s: yes });
    assert.equal(refusal(() => validateArguments(c, 't', { s: no })).code, 'ERR_ARGUMENT_INVALID', p);
  }
});

test('ReDoS: a backtracked pattern with two unbounded quantifiers in one scope gets at most 128 code units', () => {
  const c = withPattern('(?=a)a*a*!');
  assert.equal(c.kind, 'ajv');
  validateArguments(c, 't', { s: `${'a'.repeat(127)}!` });
  // 512 code units of this took 140 ms of backtracking; 129 fail the check without running (a
  // matching string, so only the bound refuses it)
  assert.equal(refusal(() => validateArguments(c, 't', { s: `${'a'.repeat(128)}!` })).code, 'ERR_ARGUMENT_INVALID');
  // One unbounded quantifier keeps the 512 bound.
  validateArguments(withPattern('(?=a)a*!'), 't', { s: `${'a'.repeat(500)}!` });
});

test('ReDoS: a polynomial pattern with a linear-time form never backtracks on a string with surrogates', { timeout: 20_000 }, () => {
  const c = withPattern('a*a*a*a*a*!');
  assert.equal(c.kind, 'ajv');
  validateArguments(c, 't', { s: `${'a'.repeat(10_000)}!` });
  const t0 = performance.now();
  // 100 characters and one emoji took 12 s on the backtracking engine
  assert.equal(refusal(() => validateArguments(c, 't', { s: `${'a'.repeat(100)}\u{1F600}` })).code, 'ERR_ARGUMENT_INVALID');
  assert.ok(performance.now() - t0 < 1000);
});

test('ReDoS: slowPatternReason counts unbounded quantifiers outside character classes and escapes', () => {
  for (const p of ['a*a*a*', 'a+?b{3,}c*', '(?:a+)(?:b+)c*', '(?:ab+){2}', '[^]a*[]b+c+', `a{${'9'.repeat(40)},}b*c*`, '(?=a*a*a*)b', '(a+)+']) assert.ok(slowPatternReason(p), p);
  for (const p of ['a*', 'a*b*', '(?:a+)?', '(?=.*[A-Z])(?=.*\\d).{8,}', '[*+]+', '\\*\\+a+', '[\\]*+]+\\{2,\\}', 'a{2}b{1,5}c?(?:d{3})?', '[a-z]*[^*]{2,8}', '(?<n>x)+y?', '\\p{L}+']) {
    assert.equal(slowPatternReason(p), undefined, p);
  }
});
