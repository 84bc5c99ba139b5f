/** RFC 6962 Merkle hashing, CompactRange and proof generation round-tripping through the verifiers. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CompactRange, EMPTY_ROOT, ProofError, consistencyProof, inclusionProof, leafHash, nodeHash, rootFromLeaves, verifyConsistency, verifyInclusion,
} from '../../../src/audit/merkle.js';

// The RFC 6962 reference test tree (certificate-transparency / transparency-dev test data).
const LEAVES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map((h) => leafHash(Buffer.from(h, 'hex')));
const ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];

const leavesN = (n: number): Buffer[] => Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`record ${i}`)));

describe('merkle hashing', () => {
  it('empty root is SHA-256("")', () => {
    assert.equal(EMPTY_ROOT.toString('hex'), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    assert.deepEqual(rootFromLeaves([]), EMPTY_ROOT);
    assert.deepEqual(new CompactRange().root(), EMPTY_ROOT);
  });

  it('reproduces the RFC 6962 reference roots for sizes 1..8', () => {
    for (let n = 1; n <= 8; n += 1) assert.equal(rootFromLeaves(LEAVES.slice(0, n)).toString('hex'), ROOTS[n - 1], `size ${n}`);
  });

  it('domain-separates leaves and nodes', () => {
    const a = leafHash(Buffer.from('a'));
    assert.notDeepEqual(leafHash(Buffer.concat([a, a])), nodeHash(a, a));
  });
});

describe('CompactRange', () => {
  it('matches rootFromLeaves at every size and survives a JSON round trip', () => {
    const leaves = leavesN(70);
    const cr = new CompactRange();
    for (let i = 0; i < leaves.length; i += 1) {
      cr.append(leaves[i] as Buffer);
      assert.equal(cr.size, i + 1);
      assert.deepEqual(cr.root(), rootFromLeaves(leaves.slice(0, i + 1)));
      const copy = CompactRange.fromJSON(JSON.parse(JSON.stringify(cr)));
      assert.deepEqual(copy.root(), cr.root());
    }
    const forked = cr.clone();
    forked.append(leafHash(Buffer.from('x')));
    assert.equal(cr.size, 70);
    assert.notDeepEqual(forked.root(), cr.root());
  });

  it('keeps O(log n) state and rejects bad input', () => {
    const cr = new CompactRange();
    for (const l of leavesN(1023)) cr.append(l);
    assert.equal(cr.toJSON().hashes.length, 10);
    assert.throws(() => cr.append(Buffer.alloc(31)), ProofError);
    assert.throws(() => new CompactRange({ size: 3, hashes: [] }), ProofError);
    assert.throws(() => new CompactRange({ size: -1, hashes: [] }), ProofError);
  });
});

describe('proof generation round-trips', () => {
  it('every inclusion proof in trees of size 1..33 verifies, and a wrong index does not', () => {
    const leaves = leavesN(33);
    for (let n = 1; n <= leaves.length; n += 1) {
      const root = rootFromLeaves(leaves.slice(0, n));
      for (let i = 0; i < n; i += 1) {
        const proof = inclusionProof(leaves, i, n);
        verifyInclusion(i, n, leaves[i] as Buffer, proof, root);
        if (n > 1) assert.throws(() => verifyInclusion((i + 1) % n, n, leaves[i] as Buffer, proof, root), ProofError);
        assert.throws(() => verifyInclusion(i, n, leaves[i] as Buffer, [...proof, EMPTY_ROOT], root), ProofError);
      }
    }
  });

  it('every consistency proof between sizes 1..33 verifies; tampering is caught', () => {
    const leaves = leavesN(33);
    const roots = [EMPTY_ROOT, ...leaves.map((_, i) => rootFromLeaves(leaves.slice(0, i + 1)))];
    for (let n = 1; n <= leaves.length; n += 1) {
      for (let m = 1; m <= n; m += 1) {
        const proof = consistencyProof(leaves, m, n);
        verifyConsistency(m, n, proof, roots[m] as Buffer, roots[n] as Buffer);
        if (m < n) {
          assert.throws(() => verifyConsistency(m, n, proof, roots[m] as Buffer, roots[n - 1] as Buffer), ProofError);
          const bad = proof.map((p, i) => (i === 0 ? nodeHash(p, p) : p));
          assert.throws(() => verifyConsistency(m, n, bad, roots[m] as Buffer, roots[n] as Buffer), ProofError);
        }
      }
    }
  });

  it('enforces the checklist edge rules', () => {
    const leaves = leavesN(4);
    const r2 = rootFromLeaves(leaves.slice(0, 2));
    assert.throws(() => consistencyProof(leaves, 0, 4), ProofError);
    assert.throws(() => consistencyProof(leaves, 3, 2), ProofError);
    assert.throws(() => verifyConsistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT), /empty tree/);
    assert.throws(() => verifyConsistency(2, 2, [r2], r2, r2), /not empty/);
    assert.throws(() => verifyConsistency(3, 2, [], r2, r2), /greater/);
    assert.throws(() => verifyInclusion(0, 1, Buffer.alloc(31), [], r2), /32 bytes/);
    assert.throws(() => inclusionProof(leaves, 4, 4), ProofError);
  });

  it('uses no 32-bit arithmetic: sizes past 2^32 verify', () => {
    // A right-edge leaf of a huge tree: the proof is just the left subtree roots.
    const size = 2 ** 33 + 1;
    const leaf = leafHash(Buffer.from('last'));
    const left = leafHash(Buffer.from('left subtree stand-in'));
    verifyInclusion(size - 1, size, leaf, [left], nodeHash(left, leaf));
  });
});
