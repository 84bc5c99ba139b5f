import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_CURSOR_CHARS, newCursorKey, openCursor, sealCursor, type CursorPayload } from '../../src/mcp/cursor.js';

const key = newCursorKey();
const sample: CursorPayload = { v: 'default', o: 50, c: 7, p: 'a1b2c3d4e5f60718', k: 'tools' };

const payload = fc.record({
  v: fc.string({ unit: 'binary', maxLength: 32 }),
  o: fc.nat(),
  c: fc.nat(),
  p: fc.stringMatching(/^[0-9a-f]{0,32}$/),
  k: fc.constantFrom('tools', 'prompts', 'resources', 'resourceTemplates'),
});

test('round trip', () => {
  const c = sealCursor(key, sample);
  assert.match(c, /^[A-Za-z0-9_-]+$/);
  assert.ok(c.length <= MAX_CURSOR_CHARS);
  assert.deepEqual(openCursor(key, c), sample);
});

test('rejects wrong key, empty, garbage, oversize and truncated cursors', () => {
  const c = sealCursor(key, sample);
  assert.equal(openCursor(newCursorKey(), c), undefined);
  assert.equal(openCursor(key, ''), undefined, 'the empty string is a valid spec cursor, never one of ours');
  assert.equal(openCursor(key, 'not a cursor!'), undefined);
  assert.equal(openCursor(key, 'AAAA'), undefined);
  assert.equal(openCursor(key, 'A'.repeat(MAX_CURSOR_CHARS + 1)), undefined);
  assert.equal(openCursor(key, c.slice(0, -1)), undefined);
  assert.equal(openCursor(key, c + 'A'), undefined);
  assert.equal(openCursor(key, c + '='), undefined);
  const std = Buffer.from(c, 'base64url').toString('base64');
  if (std !== c) assert.equal(openCursor(key, std), undefined, 'only the canonical base64url spelling is accepted');
});

test('a cursor for another principal or offset cannot be forged by editing the JSON', () => {
  const c = sealCursor(key, sample);
  const raw = Buffer.from(c, 'base64url');
  const forged = Buffer.from(raw.toString('latin1').replace('"o":50', '"o":90'), 'latin1');
  assert.notDeepEqual(forged, raw);
  assert.equal(openCursor(key, forged.toString('base64url')), undefined);
});

test('sealCursor refuses malformed payloads, short keys and oversize results', () => {
  assert.throws(() => sealCursor(key, { ...sample, o: -1 }), { name: 'GatewayError' });
  assert.throws(() => sealCursor(key, { ...sample, c: 1.5 }), { name: 'GatewayError' });
  assert.throws(() => sealCursor(Buffer.alloc(4), sample), { name: 'GatewayError' });
  assert.throws(() => sealCursor(key, { ...sample, v: 'x'.repeat(600) }), { name: 'GatewayError' });
});

test('property: round trip for arbitrary payloads', () => {
  fc.assert(
    fc.property(payload, (p) => {
      assert.deepEqual(openCursor(key, sealCursor(key, p)), { ...p });
    }),
    { numRuns: 300 },
  );
});

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

test('property: any single-character change is rejected', () => {
  fc.assert(
    fc.property(payload, fc.nat(), fc.nat(), fc.boolean(), (p, pos, pick, useAnyChar) => {
      const c = sealCursor(key, p);
      const i = pos % c.length;
      // includes the last character, whose unused low bits must not give a second valid spelling
      const alphabet = useAnyChar ? B64URL + '+/=. \u00e9' : B64URL;
      let ch = alphabet[pick % alphabet.length]!;
      if (ch === c[i]) ch = alphabet[(pick + 1) % alphabet.length]!;
      const mutated = c.slice(0, i) + ch + c.slice(i + 1);
      assert.equal(openCursor(key, mutated), undefined);
    }),
    { numRuns: 500 },
  );
});

test('property: openCursor never throws on arbitrary strings', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 600 }), fc.base64String({ maxLength: 200 }), fc.stringMatching(/^[A-Za-z0-9_-]{0,120}$/)), (s) => {
      assert.equal(openCursor(key, s), undefined);
    }),
    { numRuns: 500 },
  );
});
