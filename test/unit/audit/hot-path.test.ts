/**
 * The audit hot path's shortcuts give the same bytes as the reference forms: the record line
 * equals the `canonicalize` package's output of envelope ∪ fields (the envelope wins a clash),
 * and the leaf hash the writer computes equals recovery's.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { payloadDigest } from '../../../src/audit/records.js';
import { recordLine } from '../../../src/audit/writer.js';
import { canonicalReference } from '../../../src/audit/canonical.js';
import { CompactRange, leafHash, nodeHash, rootFromLeaves, rootOfRange } from '../../../src/audit/merkle.js';
import { createHash } from 'node:crypto';

const env = { log: 'portcullis/acme', prev: 'cd'.repeat(32), seq: 7, ts: '2026-11-24T03:55:00.123Z', type: 'tool.call.decision', v: 1 as const };

describe('audit hot path', () => {
  it('payloadDigest keeps bytes, HMAC and bounded key names', () => {
    const key = randomBytes(32);
    const value = { b: 1, a: 'é', ['k'.repeat(200)]: true };
    const d = payloadDigest(key, value);
    const text = JSON.stringify(value);
    assert.equal(d.hmac_sha256, createHmac('sha256', key).update(text).digest('hex'));
    assert.equal(d.bytes, Buffer.byteLength(text));
    assert.deepEqual(d.keys, ['b', 'a', 'k'.repeat(128)]);
    assert.equal(payloadDigest(key, undefined).hmac_sha256, createHmac('sha256', key).update('').digest('hex'));
  });

  it('recordLine equals the reference canonical form, sorted or not', () => {
    const cases: Record<string, unknown>[] = [
      { actor: { authn: 'api-key', sub: 'u' }, args: { bytes: 3, hmac_sha256: 'ab', keys: ['x'] }, call: 'c1', decision: { reasons: [], result: 'allow', rules: [] }, target: { kind: 'tool' }, trace: 't' },
      { call: 'c1', ms: 1.25, result: { bytes: 1, hmac_sha256: 'ab', is_error: false }, target: { kind: 'tool', upstream: 'u1' } },
      { zeta: 1, alpha: { y: 1, x: [3, { b: 1, a: 2 }] }, call: 'unsorted' },
      { seq: 99, type: 'forged', log: 'other', call: 'clash' },
      { call: 'sorted clash', log: 'other', seq: 5, zz: [1, 'two'] },
      { a: undefined, b: null, c: 'line\nbreak \u2028 "quoted" \u001b[31m', '10': 'int-like', '9': 'int-like' },
      {},
    ];
    for (const fields of cases) {
      const want = canonicalReference({ ...JSON.parse(JSON.stringify(fields)), ...env });
      assert.equal(recordLine(env, fields), want, JSON.stringify(fields));
    }
    assert.throws(() => recordLine(env, { bad: '\ud800' }), TypeError);
  });

  it('nodeHash and rootOfRange match the RFC 6962 definitions', () => {
    const a = leafHash(Buffer.from('a'));
    const b = leafHash(Buffer.from('b'));
    assert.deepEqual(nodeHash(a, b), createHash('sha256').update(Buffer.of(1)).update(a).update(b).digest());
    const leaves = Array.from({ length: 13 }, (_, i) => leafHash(Buffer.from(`r${i}`)));
    const range = new CompactRange();
    for (const l of leaves) range.append(l);
    const frontier = range.frontier();
    range.append(leafHash(Buffer.from('later')));
    assert.deepEqual(rootOfRange(frontier), rootFromLeaves(leaves));
  });
});
