import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { jsonDepth, parseJsonBody } from '../../src/mcp/json-body.js';

const b = (s: string) => Buffer.from(s, 'utf8');

test('parses valid bodies', () => {
  assert.deepEqual(parseJsonBody(b('{"jsonrpc":"2.0","id":1,"method":"ping"}'), 64), { ok: true, value: { jsonrpc: '2.0', id: 1, method: 'ping' } });
  assert.deepEqual(parseJsonBody(b(' 42 '), 0), { ok: true, value: 42 });
});

test('depth is counted on structure only, not inside strings', () => {
  assert.equal(jsonDepth(b('1')), 0);
  assert.equal(jsonDepth(b('{}')), 1);
  assert.equal(jsonDepth(b('[{"a":[1]},[]]')), 3);
  assert.equal(jsonDepth(b('{"a":"[[[[{{{{"}')), 1);
  assert.equal(jsonDepth(b('{"a":"\\"[[[\\\\"}')), 1, 'escaped quote inside, escaped backslash at the end');
  assert.equal(jsonDepth(b('["\\\\",[["x"]]]')), 3);
  assert.equal(parseJsonBody(b('[[1]]'), 2).ok, true);
  assert.deepEqual(parseJsonBody(b('[[[1]]]'), 2), { ok: false, code: 'ERR_JSON_TOO_DEEP', message: 'JSON nesting deeper than 2' });
});

test('a very deep body is refused without recursion', () => {
  const deep = Buffer.concat([Buffer.alloc(1_000_000, '['), Buffer.alloc(1_000_000, ']')]);
  const r = parseJsonBody(deep, 64);
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.code, 'ERR_JSON_TOO_DEEP');
});

test('BOM is accepted; invalid UTF-8, empty and invalid JSON are parse errors that do not quote the body', () => {
  assert.deepEqual(parseJsonBody(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), b('{"a":1}')]), 8), { ok: true, value: { a: 1 } });
  const bad = [Buffer.alloc(0), b('{"a":'), b('{"secret-token-xyz": }'), Buffer.from([0x22, 0xff, 0x22]), b('[1,]'), Buffer.from([0xef, 0xbb, 0xbf])];
  for (const buf of bad) {
    const r = parseJsonBody(buf, 8);
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.code, 'ERR_PARSE');
    assert.ok(!r.ok && !r.message.includes('secret'));
  }
});

/** Depth of a parsed value, computed independently of the scanner. */
function valueDepth(v: unknown): number {
  if (Array.isArray(v)) return 1 + Math.max(0, ...v.map(valueDepth));
  if (v !== null && typeof v === 'object') return 1 + Math.max(0, ...Object.values(v).map(valueDepth));
  return 0;
}

test('property: agrees with JSON.parse on valid inputs and reports depth exactly', () => {
  fc.assert(
    fc.property(fc.oneof(fc.json({ maxDepth: 6 }), fc.json({ maxDepth: 3, stringUnit: 'binary' })), (text) => {
      const value = JSON.parse(text) as unknown;
      const depth = valueDepth(value);
      assert.equal(jsonDepth(b(text)), depth);
      assert.deepEqual(parseJsonBody(b(text), depth), { ok: true, value });
      if (depth > 0) assert.equal(parseJsonBody(b(text), depth - 1).ok, false);
      // pretty-printed and unicode-escaped variants too
      assert.deepEqual(parseJsonBody(b(JSON.stringify(value, null, 2)), depth), { ok: true, value });
    }),
    { numRuns: 400 },
  );
});

test('property: never throws on arbitrary bytes', () => {
  const structural = fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a.map((x) => [0x22, 0x5c, 0x5b, 0x5d, 0x7b, 0x7d, 0x31, 0x2c, 0x3a, x][x % 10]!)));
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)), structural), fc.integer({ min: 0, max: 10 }), (buf, max) => {
      const r = parseJsonBody(buf, max);
      if (r.ok) {
        // whatever parsed must be within the depth limit
        assert.ok(valueDepth(r.value) <= max);
      } else {
        assert.ok(r.code === 'ERR_PARSE' || r.code === 'ERR_JSON_TOO_DEEP');
      }
    }),
    { numRuns: 500 },
  );
});
