/**
 * The audit hot path's shortcuts give the same bytes as the reference forms: the record line
 * equals the `canonicalize` package's output of envelope ∪ fields (the envelope wins a clash),
 * and the leaf hash the writer computes equals recovery's.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { keyNames } from '../../../src/audit/records.js';
import { PayloadMac } from '../../../src/audit/payload-mac.js';
import { relayable } from '../../../src/http/call-reply.js';
import { resultTextOf } from '../../../src/mcp/result-text.js';
import { recordLine } from '../../../src/audit/writer.js';
import { canonicalReference } from '../../../src/audit/canonical.js';
import { CompactRange, leafHash, nodeHash, rootFromLeaves, rootOfRange } from '../../../src/audit/merkle.js';
import { createHash } from 'node:crypto';

const env = { log: 'portcullis/acme', prev: 'cd'.repeat(32), seq: 7, ts: '2026-11-24T03:55:00.123Z', type: 'tool.call.decision', v: 1 as const };

describe('audit hot path', () => {
  it('PayloadMac equals createHmac on any text, and keyNames keeps bounded key names', () => {
    const keys = [randomBytes(32), randomBytes(7), randomBytes(64), randomBytes(100)];
    const texts = ['', '{"a":1}', 'é€😀', 'lone \ud800 surrogate', 'x'.repeat(30_000), 'é'.repeat(30_000), JSON.stringify({ b: 1, a: 'é' })];
    for (const key of keys) {
      const mac = new PayloadMac(key);
      for (const t of texts) {
        const d = mac.digest(t);
        assert.equal(d.hex, createHmac('sha256', key).update(t).digest('hex'), `${key.length}-byte key, ${t.length} units`);
        assert.equal(d.bytes, Buffer.byteLength(t));
      }
    }
    // Every log's PayloadMac shares one pair of scratch buffers: interleaved keys stay apart.
    const [m0, m1] = [new PayloadMac(keys[0]!), new PayloadMac(keys[1]!)];
    for (const t of ['a', 'bb', 'a']) {
      assert.equal(m0.digest(t).hex, createHmac('sha256', keys[0]!).update(t).digest('hex'));
      assert.equal(m1.digest(t).hex, createHmac('sha256', keys[1]!).update(t).digest('hex'));
    }
    const mac = new PayloadMac(keys[0]!);
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 2000 }), (t) => {
        assert.equal(mac.digest(t).hex, createHmac('sha256', keys[0]!).update(t).digest('hex'));
      }),
      { numRuns: 300 },
    );
    assert.deepEqual(keyNames({ b: 1, a: 'é', ['k'.repeat(200)]: true }), ['b', 'a', 'k'.repeat(128)]);
    assert.equal(keyNames([1]), undefined);
    assert.equal(keyNames('text'), undefined);
    assert.equal(keyNames(Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, i])))?.length, 64);
  });

  it('the reply keeps the text of the result it wrote, for that result object only', () => {
    const result = { content: [{ type: 'text', text: 'é "q" \u2028' }], isError: false };
    const wire = relayable({ jsonrpc: '2.0', id: 7, result });
    assert.equal(wire, JSON.stringify({ jsonrpc: '2.0', id: 7, result }));
    assert.equal(resultTextOf(result), JSON.stringify(result));
    assert.equal(resultTextOf({ ...result }), undefined, 'another object, even an equal one, misses');
    relayable({ jsonrpc: '2.0', id: 'x', result: { other: true } });
    assert.equal(resultTextOf(result), undefined, 'one slot: the next reply replaces it');
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
