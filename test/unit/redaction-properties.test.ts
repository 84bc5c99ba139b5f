/**
 * F5 — properties of redactValue / redactText (fast-check, bounded runs): deterministic,
 * idempotent, JSON in → JSON out, bounded growth, no throw on arbitrary strings and values (lone
 * surrogates, long strings, nesting up to and past the depth bound), input never mutated.
 * The generators mix real token shapes, numbers, separators and markers into the strings, so the
 * rules actually fire (a property over text no rule matches would prove little).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DEPTH_MARKER, MAX_MARKER_OVERHEAD, PII_RULE_NAMES, SECRET_RULE_NAMES, TRUNCATED_MARKER, detectSpans, marker, redactText, redactValue, selectRules, type RedactOptions } from '../../src/redaction/index.js';

const RUNS = Number(process.env.REDACTION_PROPERTY_RUNS ?? 300);

/** Any UTF-16 code unit, lone surrogates included. */
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((n) => String.fromCharCode(n));

/** Pieces that make rules fire, or nearly fire, and pieces that look like our own markers. */
const FRAGMENTS = [
  'AKIA', 'AKIAIOSFODNN7EXAMPLE', 'ghp_', 'ghp_' + 'a1B2'.repeat(9), 'xoxb-', 'xoxb-23984754863-2348975623000-AAAA', 'sk_live_' + 'A'.repeat(24),
  '-----BEGIN PRIVATE KEY-----\n', '-----END PRIVATE KEY-----', 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDndJt7NaG8T64/\n',
  'https://', 'user:', 'p4ssW0rd', '@', 'example.com', 'mongodb://', 'eyJhbGciOiJIUzI1NiJ9', '.', 'eyJzdWIiOiIxIn0', 'T3BlbkFJ', 'sk-',
  'bob@example.com', '4111 1111 1111 1111', '4007070753690781', 'GB82 WEST 1234 5698 7654 32', 'GB56HXDO88167774656119', '460-89-9847',
  '41.173.96.26', '6e40:4041:c617:e898:c11:40d2:c669:2eb4', '::', '+44 7700 900123', '(37) 788-063', 'phone', '905-674-3793',
  '[REDACTED:email]', '[REDACTED:', ']', TRUNCATED_MARKER, '[REDACTED:sensitive-key]', 'Bearer ', 'abcdefghijklmnopqrstuvwxyz012345',
  ' ', '-', ':', '\n', '"', '\\n', '0', '1', '9', 'a', 'Z', '\uD800', '\uDC00', '\u0130',
];

const spicyString = fc
  .array(fc.oneof({ arbitrary: fc.constantFrom(...FRAGMENTS), weight: 4 }, fc.string({ unit: codeUnit, maxLength: 6 }), fc.stringMatching(/^[0-9 .-]{1,20}$/)), { maxLength: 24 })
  .map((parts) => parts.join(''));

const anyString = fc.oneof({ arbitrary: spicyString, weight: 6 }, fc.string({ unit: codeUnit, maxLength: 80 }), fc.string({ unit: 'binary', maxLength: 80 }));

const KEYS = ['password', 'api_key', 'Authorization', 'body', 'text', 'arguments', 'content', '__proto__', 'constructor', 'a/b~c', '', 'max_tokens', 'x-api-key'];

const jsonValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    anyString,
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(fc.oneof(fc.constantFrom(...KEYS), fc.string({ maxLength: 8 })), tie('value'), { maxKeys: 5 }),
  ),
})).value;

const options = fc.record(
  {
    secrets: fc.boolean(),
    pii: fc.boolean(),
    maxStringChars: fc.oneof(fc.integer({ min: 1, max: 300 }), fc.constant(65_536)),
    maxDepth: fc.integer({ min: 1, max: 12 }),
  },
  { requiredKeys: [] },
) as fc.Arbitrary<RedactOptions>;

const params = { numRuns: RUNS, seed: Number(process.env.REDACTION_PROPERTY_SEED ?? 20261124) };

describe('F5 redaction properties', () => {
  it('redactText is deterministic, idempotent and grows by at most one marker per finding', () => {
    let withFindings = 0;
    fc.assert(
      fc.property(anyString, fc.option(options, { nil: undefined }), (s, o) => {
        const a = redactText(s, o);
        if (a.findings.length > 0) withFindings++;
        const b = redactText(s, o);
        assert.deepEqual(a, b);
        const again = redactText(a.value, o);
        assert.equal(again.value, a.value, 'idempotent');
        assert.deepEqual(again.findings, [], 'a second pass finds nothing');
        const findings = a.findings.reduce((n, f) => n + f.count, 0);
        assert.ok(a.value.length <= s.length + findings * MAX_MARKER_OVERHEAD + TRUNCATED_MARKER.length, `length ${a.value.length} from ${s.length} with ${findings} findings`);
      }),
      params,
    );
    // Not vacuous: a good share of the generated strings had something masked.
    assert.ok(withFindings >= RUNS / 10, `strings with findings: ${withFindings} of ${RUNS}`);
    console.log(`F5: ${withFindings} of ${RUNS} generated strings had findings`);
  });

  it('redactValue on JSON is deterministic, idempotent, JSON-round-trippable and does not mutate its input', () => {
    fc.assert(
      fc.property(jsonValue, fc.option(options, { nil: undefined }), (v, o) => {
        const before = JSON.stringify(v);
        const a = redactValue(v, o);
        assert.equal(JSON.stringify(v), before, 'input not mutated');
        assert.deepEqual(redactValue(v, o), a, 'deterministic');
        const text = JSON.stringify(a.value);
        assert.equal(typeof text, 'string');
        assert.deepEqual(JSON.parse(text), a.value, 'JSON round trip');
        const again = redactValue(a.value, o);
        assert.deepEqual(again.value, a.value, 'idempotent');
        for (const f of a.findings) {
          assert.ok(f.path === '' || f.path.startsWith('/'), `path ${f.path}`);
          assert.ok(f.path.length <= 256 && f.count >= 1);
        }
      }),
      params,
    );
  });

  it('never throws on arbitrary values (non-JSON included)', () => {
    fc.assert(
      fc.property(fc.anything({ withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true, withSparseArray: true, withNullPrototype: true, withBoxedValues: true }), (v) => {
        const r = redactValue(v);
        JSON.stringify(r.value); // must not throw either (BigInt would)
      }),
      { numRuns: RUNS, seed: 7 },
    );
    // Cycles, throwing getters and functions.
    const cyclic: Record<string, unknown> = { a: 'bob@example.com' };
    cyclic.self = cyclic;
    const getter = Object.defineProperty({}, 'boom', { enumerable: true, get: () => { throw new Error('no'); } });
    for (const v of [cyclic, getter, () => 1, Symbol('x'), undefined, 10n ** 20n, new Proxy({}, { ownKeys: () => { throw new Error('no'); } })]) {
      const r = redactValue(v);
      JSON.stringify(r.value);
    }
    assert.equal((redactValue(cyclic).value as Record<string, unknown>).a, '[REDACTED:email]');
  });

  it('bounds long strings and deep nesting', () => {
    // A long string: scanned up to the limit, the rest replaced by the marker; idempotent.
    const long = 'x'.repeat(100_000) + ' bob@example.com';
    const r = redactText(long);
    assert.ok(r.value.endsWith(TRUNCATED_MARKER) && r.value.length <= 65_536 + TRUNCATED_MARKER.length);
    assert.equal(redactText(r.value).value, r.value);
    const head = redactText('bob@example.com ' + 'y'.repeat(100_000), { maxStringChars: 1000 });
    assert.ok(head.value.startsWith('[REDACTED:email] ') && head.value.length <= 1000 + TRUNCATED_MARKER.length);
    // Strings full of short findings (markers longer than what they replace) still fit the limit.
    const ips = '1.1.1.1 '.repeat(20_000);
    const m = redactText(ips, { maxStringChars: 10_000 });
    assert.ok(m.value.length <= 10_000 + TRUNCATED_MARKER.length, `length ${m.value.length}`);
    assert.equal(redactText(m.value, { maxStringChars: 10_000 }).value, m.value);
    // Nesting up to the bound is walked; deeper containers become a marker.
    let deep: unknown = 'bob@example.com';
    for (let i = 0; i < 64; i++) deep = [deep];
    const d = redactValue(deep, { maxDepth: 64 });
    assert.equal(JSON.stringify(d.value).includes('[REDACTED:email]'), true);
    let deeper: unknown = 'bob@example.com';
    for (let i = 0; i < 100_000; i++) deeper = { a: deeper };
    const dd = redactValue(deeper);
    assert.ok(JSON.stringify(dd.value).includes(DEPTH_MARKER));
    assert.deepEqual(redactValue(dd.value).value, dd.value);
  });

  it('never matches its own markers, in any context', () => {
    const names = [...SECRET_RULE_NAMES, ...PII_RULE_NAMES, 'sensitive-key', 'max-depth', 'unreadable'];
    assert.ok(names.length >= 30, `rule names: ${names.length}`);
    for (const name of names) {
      const m = marker(name);
      for (const text of [m, `${m}${m}`, `x ${m} y`, `https://user:${m}@host.example`, `Bearer ${m}`, `password=${m}`, `${m}@example.com`, `1.1.1.${m}`, `${m}-12-${m}`, `"${m}":"${m}"`]) {
        const spans = detectSpans(text, selectRules());
        const inMarker = spans.filter((s) => text.slice(s.start, s.end).includes('REDACTED'));
        assert.deepEqual(inMarker, [], `${name}: a rule matched the marker in ${JSON.stringify(text)}`);
        assert.equal(redactText(text).value, redactText(redactText(text).value).value);
      }
    }
  });

  it('reports findings by JSON-pointer path', () => {
    const r = redactValue({ arguments: { body: 'mail bob@example.com, bob@example.org', 'a/b~c': ['ghp_' + 'a1B2'.repeat(9)] } });
    assert.deepEqual(r.value, { arguments: { body: 'mail [REDACTED:email], [REDACTED:email]', 'a/b~c': ['[REDACTED:github-token]'] } });
    assert.deepEqual(r.findings, [
      { kind: 'pii', rule: 'email', path: '/arguments/body', count: 2 },
      { kind: 'secret', rule: 'github-token', path: '/arguments/a~1b~0c/0', count: 1 },
    ]);
    const long = redactValue({ ['k'.repeat(1000)]: 'bob@example.com' });
    assert.ok(long.findings[0]!.path.length <= 256 && long.findings[0]!.path.endsWith('…'));
  });

  it('masks secret-named keys entirely and keeps other scalars', () => {
    const r = redactValue({ password: 'hunter2', 'API-Key': 'abc', nested: { client_secret: 's', Cookie: 'c=1', max_tokens: 5, token_count: '12', n: 4111111111111111 } });
    assert.deepEqual(r.value, {
      password: '[REDACTED:sensitive-key]',
      'API-Key': '[REDACTED:sensitive-key]',
      nested: { client_secret: '[REDACTED:sensitive-key]', Cookie: '[REDACTED:sensitive-key]', max_tokens: 5, token_count: '12', n: 4111111111111111 },
    });
    assert.deepEqual(r.findings.map((f) => f.path).sort(), ['/API-Key', '/nested/Cookie', '/nested/client_secret', '/password']);
  });
});
