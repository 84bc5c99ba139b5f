import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  checkMirroredHeaders,
  decodeHeaderValue,
  encodeHeaderValue,
  headerParamMap,
  mirroredHeadersFor,
  type MirrorBody,
} from '../../src/mcp/mirrored-headers.js';

const V = '2026-07-28';
const meta = { 'io.modelcontextprotocol/protocolVersion': V };

test('encodeHeaderValue follows the spec examples', () => {
  assert.equal(encodeHeaderValue('us-west1'), 'us-west1');
  assert.equal(encodeHeaderValue('Hello, 世界'), '=?base64?SGVsbG8sIOS4lueVjA==?=');
  assert.equal(encodeHeaderValue(' padded '), '=?base64?IHBhZGRlZCA=?=');
  assert.equal(encodeHeaderValue('line1\nline2'), '=?base64?bGluZTEKbGluZTI=?=');
  assert.equal(encodeHeaderValue('=?base64?literal?='), '=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=');
  assert.equal(encodeHeaderValue(42), '42');
  assert.equal(encodeHeaderValue(-7), '-7');
  assert.equal(encodeHeaderValue(true), 'true');
  assert.equal(encodeHeaderValue(false), 'false');
  assert.equal(encodeHeaderValue('a b\tc'), 'a b\tc', 'inner whitespace is fine');
  assert.equal(encodeHeaderValue('=?base64?'), '=?base64?', 'a prefix alone is not the wrapper');
  assert.equal(decodeHeaderValue(encodeHeaderValue('=?base64?=')), '=?base64?=', 'overlapping markers are wrapped too');
  assert.notEqual(encodeHeaderValue('=?base64?='), '=?base64?=');
});

test('decodeHeaderValue', () => {
  assert.equal(decodeHeaderValue('us-west1'), 'us-west1');
  assert.equal(decodeHeaderValue('=?base64?SGVsbG8sIOS4lueVjA==?='), 'Hello, 世界');
  // SEP-2243 (conformance sep-2243-server-reject-invalid-param-chars): unpadded base64 is invalid.
  assert.equal(decodeHeaderValue('=?base64?SGVsbG8sIOS4lueVjA?='), undefined, 'padding required');
  assert.equal(decodeHeaderValue('=?base64??='), '');
  assert.equal(decodeHeaderValue('=?base64?not base64!?='), undefined);
  assert.equal(decodeHeaderValue('=?base64?QQ=?='), undefined, 'wrong padding');
  assert.equal(decodeHeaderValue('=?base64?Q?='), undefined, 'impossible length');
  assert.equal(decodeHeaderValue('=?base64?/w==?='), undefined, 'not UTF-8');
  assert.equal(decodeHeaderValue('=?BASE64?QQ==?='), '=?BASE64?QQ==?=', 'markers are case-sensitive');
  assert.equal(decodeHeaderValue('caf\u00e9'), undefined, 'obs-text in a raw value');
  assert.equal(decodeHeaderValue('a\u0000b'), undefined);
});

test('property: encode → decode round trip, and encoded values are header-safe', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), fc.string({ maxLength: 40 }), fc.constantFrom('=?base64?x?=', ' x', 'x\t', '=?base64??=', '=?base64?=')), (s) => {
      const enc = encodeHeaderValue(s);
      assert.match(enc, /^([\x21-\x7e]([\x20-\x7e\t]*[\x21-\x7e])?)?$/);
      assert.equal(decodeHeaderValue(enc), s);
    }),
    { numRuns: 500 },
  );
});

test('property: decodeHeaderValue never throws', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 40 }), fc.string({ maxLength: 30 }).map((s) => `=?base64?${s}?=`)), (s) => {
      const d = decodeHeaderValue(s);
      assert.ok(d === undefined || typeof d === 'string');
    }),
    { numRuns: 500 },
  );
});

const sqlSchema = {
  type: 'object',
  properties: {
    region: { type: 'string', 'x-mcp-header': 'Region' },
    query: { type: 'string' },
    opts: { type: 'object', properties: { limit: { type: 'integer', 'x-mcp-header': 'Limit' }, dry: { type: ['boolean', 'null'], 'x-mcp-header': 'Dry-Run' } } },
  },
};

test('headerParamMap extracts statically reachable annotations', () => {
  const m = headerParamMap(sqlSchema);
  assert.ok(m instanceof Map);
  assert.deepEqual([...m], [
    ['Region', ['region']],
    ['Limit', ['opts', 'limit']],
    ['Dry-Run', ['opts', 'dry']],
  ]);
  assert.deepEqual([...(headerParamMap({ type: 'object' }) as Map<string, string[]>)], []);
  assert.deepEqual([...(headerParamMap(undefined) as Map<string, string[]>)], []);
  // a property *named* x-mcp-header and instance data in enum/examples are not annotations
  const named = headerParamMap({ properties: { 'x-mcp-header': { type: 'string' } }, examples: [{ 'x-mcp-header': 'X' }], default: { 'x-mcp-header': 'Y' } });
  assert.ok(named instanceof Map && named.size === 0);
});

test('headerParamMap rejects invalid annotations', () => {
  const bad: [unknown, RegExp][] = [
    [{ 'x-mcp-header': 'Root' }, /not statically reachable/],
    [{ properties: { a: { type: 'number', 'x-mcp-header': 'A' } } }, /string, integer or boolean/],
    [{ properties: { a: { type: 'object', 'x-mcp-header': 'A' } } }, /string, integer or boolean/],
    [{ properties: { a: { 'x-mcp-header': 'A' } } }, /string, integer or boolean/],
    [{ properties: { a: { type: 'string', 'x-mcp-header': '' } } }, /valid header name/],
    [{ properties: { a: { type: 'string', 'x-mcp-header': 'Bad Name' } } }, /valid header name/],
    [{ properties: { a: { type: 'string', 'x-mcp-header': 'X\r\nInjected: 1' } } }, /valid header name/],
    [{ properties: { a: { type: 'string', 'x-mcp-header': 7 } } }, /valid header name/],
    [{ properties: { a: { type: 'string', 'x-mcp-header': 'Dup' }, b: { type: 'string', 'x-mcp-header': 'dUP' } } }, /used twice/],
    [{ properties: { a: { type: 'array', items: { type: 'string', 'x-mcp-header': 'I' } } } }, /not statically reachable/],
    [{ anyOf: [{ properties: { a: { type: 'string', 'x-mcp-header': 'A' } } }] }, /not statically reachable/],
    [{ $defs: { t: { properties: { a: { type: 'string', 'x-mcp-header': 'A' } } } } }, /not statically reachable/],
    [{ additionalProperties: { type: 'string', 'x-mcp-header': 'A' } }, /not statically reachable/],
    [{ if: { properties: { a: { type: 'string', 'x-mcp-header': 'A' } } } }, /not statically reachable/],
  ];
  for (const [schema, re] of bad) {
    const r = headerParamMap(schema);
    assert.ok(!(r instanceof Map), JSON.stringify(schema));
    assert.match(r.error, re);
  }
  let deep: Record<string, unknown> = { type: 'string' };
  for (let i = 0; i < 200; i++) deep = { properties: { a: deep } };
  assert.ok(!(headerParamMap(deep) instanceof Map));
});

const callBody = (args: Record<string, unknown>, name = 'execute_sql'): MirrorBody => ({
  id: 1,
  method: 'tools/call',
  params: { name, arguments: args, _meta: meta },
});

test('checkMirroredHeaders: standard headers', () => {
  const ok = { 'mcp-protocol-version': V, 'mcp-method': 'tools/call', 'mcp-name': 'execute_sql' };
  assert.deepEqual(checkMirroredHeaders(ok, callBody({})), { ok: true });
  const fails: Record<string, string | string[] | undefined>[] = [
    { ...ok, 'mcp-protocol-version': undefined },
    { ...ok, 'mcp-protocol-version': '2025-11-25' },
    { ...ok, 'mcp-method': undefined },
    { ...ok, 'mcp-method': 'tools/list' },
    { ...ok, 'mcp-name': undefined },
    { ...ok, 'mcp-name': 'other' },
    { ...ok, 'mcp-name': ['execute_sql', 'execute_sql'] },
    { ...ok, 'mcp-name': '=?base64?!!?=' },
  ];
  for (const h of fails) assert.equal(checkMirroredHeaders(h, callBody({})).ok, false, JSON.stringify(h));
  // base64-wrapped Mcp-Name is decoded before comparing
  assert.equal(checkMirroredHeaders({ ...ok, 'mcp-name': encodeHeaderValue('naïve') }, callBody({}, 'naïve')).ok, true);
  assert.equal(checkMirroredHeaders({ ...ok, 'mcp-name': 'naïve' }, callBody({}, 'naïve')).ok, false);
  // resources/read mirrors params.uri
  const read: MirrorBody = { id: 2, method: 'resources/read', params: { uri: 'file:///a b', _meta: meta } };
  assert.equal(checkMirroredHeaders({ 'mcp-protocol-version': V, 'mcp-method': 'resources/read', 'mcp-name': 'file:///a b' }, read).ok, true);
  assert.equal(checkMirroredHeaders({ 'mcp-protocol-version': V, 'mcp-method': 'resources/read' }, read).ok, false);
  // tools/list needs no Mcp-Name; an unrelated one is ignored
  const list: MirrorBody = { id: 3, method: 'tools/list', params: { _meta: meta } };
  assert.equal(checkMirroredHeaders({ 'mcp-protocol-version': V, 'mcp-method': 'tools/list' }, list).ok, true);
  // body without _meta version cannot match
  assert.equal(checkMirroredHeaders({ 'mcp-protocol-version': V, 'mcp-method': 'tools/list' }, { id: 4, method: 'tools/list' }).ok, false);
  // notifications (no id): Mcp-Method optional, but must match when present
  const note: MirrorBody = { method: 'notifications/x', params: { _meta: meta } };
  assert.equal(checkMirroredHeaders({ 'mcp-protocol-version': V }, note).ok, true);
  assert.equal(checkMirroredHeaders({ 'mcp-protocol-version': V, 'mcp-method': 'other' }, note).ok, false);
});

test('checkMirroredHeaders: Mcp-Param-* against arguments', () => {
  const map = headerParamMap(sqlSchema) as Map<string, string[]>;
  const base = { 'mcp-protocol-version': V, 'mcp-method': 'tools/call', 'mcp-name': 'execute_sql' };
  const check = (h: Record<string, string>, args: Record<string, unknown>) => checkMirroredHeaders({ ...base, ...h }, callBody(args), map).ok;
  assert.equal(check({ 'mcp-param-region': 'us-west1' }, { region: 'us-west1', query: 'SELECT 1' }), true);
  assert.equal(check({ 'mcp-param-region': 'eu' }, { region: 'us-west1' }), false, 'mismatch');
  assert.equal(check({}, { region: 'us-west1' }), false, 'argument present, header missing');
  assert.equal(check({ 'mcp-param-region': 'us-west1' }, {}), false, 'header present, argument absent');
  assert.equal(check({}, { region: null }), true, 'null argument: no header expected');
  assert.equal(check({ 'mcp-param-region': encodeHeaderValue(' 世界 ') }, { region: ' 世界 ' }), true);
  assert.equal(check({ 'mcp-param-region': '=?base64?@@?=' }, { region: 'x' }), false, 'malformed wrapper');
  // integers compare numerically; booleans as true/false
  assert.equal(check({ 'mcp-param-limit': '42' }, { opts: { limit: 42 } }), true);
  assert.equal(check({ 'mcp-param-limit': '42.0' }, { opts: { limit: 42 } }), true);
  assert.equal(check({ 'mcp-param-limit': '0x2a' }, { opts: { limit: 42 } }), false);
  assert.equal(check({ 'mcp-param-limit': '' }, { opts: { limit: 0 } }), false);
  assert.equal(check({ 'mcp-param-limit': '43' }, { opts: { limit: 42 } }), false);
  assert.equal(check({ 'mcp-param-dry-run': 'true' }, { opts: { dry: true } }), true);
  assert.equal(check({ 'mcp-param-dry-run': 'True' }, { opts: { dry: true } }), false);
  assert.equal(check({ 'mcp-param-dry-run': 'false' }, { opts: { dry: false } }), true);
  // unknown Mcp-Param-* headers are ignored
  assert.equal(check({ 'mcp-param-unknown': 'whatever' }, {}), true);
});

test('mirroredHeadersFor regenerates headers from the body', () => {
  const map = headerParamMap(sqlSchema) as Map<string, string[]>;
  const body = callBody({ region: 'Zürich', query: 'q', opts: { limit: 5, dry: null } }, 'db__execute_sql');
  assert.deepEqual(mirroredHeadersFor(body, map), {
    'MCP-Protocol-Version': V,
    'Mcp-Method': 'tools/call',
    'Mcp-Name': 'db__execute_sql',
    'Mcp-Param-Region': encodeHeaderValue('Zürich'),
    'Mcp-Param-Limit': '5',
  });
  assert.deepEqual(mirroredHeadersFor({ id: 1, method: 'resources/read', params: { uri: 'file:///x', _meta: meta } }), {
    'MCP-Protocol-Version': V,
    'Mcp-Method': 'resources/read',
    'Mcp-Name': 'file:///x',
  });
});

test('property: headers generated for a body always pass the check against that body', () => {
  const map = headerParamMap(sqlSchema) as Map<string, string[]>;
  const arg = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
  fc.assert(
    fc.property(
      fc.string({ unit: 'binary', maxLength: 20 }),
      arg(fc.string({ unit: 'binary', maxLength: 20 })),
      arg(fc.maxSafeInteger()),
      arg(fc.option(fc.boolean(), { nil: null })),
      (name, region, limit, dry) => {
        const opts: Record<string, unknown> = {};
        if (limit !== undefined) opts.limit = limit;
        if (dry !== undefined) opts.dry = dry;
        const args: Record<string, unknown> = { opts };
        if (region !== undefined) args.region = region;
        const body = callBody(args, name);
        const generated = mirroredHeadersFor(body, map);
        const lower: Record<string, string> = {};
        for (const [k, v] of Object.entries(generated)) lower[k.toLowerCase()] = v;
        assert.deepEqual(checkMirroredHeaders(lower, body, map), { ok: true });
        // and tampering with any one mirrored value is caught
        for (const k of Object.keys(lower)) {
          const tampered = { ...lower, [k]: lower[k] + 'x' };
          assert.equal(checkMirroredHeaders(tampered, body, map).ok, false, k);
        }
      },
    ),
    { numRuns: 300 },
  );
});
