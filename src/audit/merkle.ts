/**
 * RFC 6962 / RFC 9162 §2.1 Merkle tree hashing, proof generation and proof verification over
 * SHA-256. Trees are built from leaf *hashes* (`leafHash(record bytes)`), never from raw data, so
 * the writer, the verifier and the proof CLI all work on the same 32-byte values.
 *
 * Sizes and indexes are plain JS numbers: all arithmetic is division and modulo, never 32-bit
 * bitwise operators, so it stays exact up to 2^53 (security checklist §3.3).
 */
import { createHash, hash } from 'node:crypto';

/** Length of every hash in the tree (SHA-256). */
export const HASH_SIZE = 32;

/** Raised when a proof (or its inputs) does not verify; `message` says why. */
export class ProofError extends Error {
  override readonly name = 'ProofError';
}

function sha256(...parts: Buffer[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

/** Root of the empty tree: SHA-256 of the empty string. */
export const EMPTY_ROOT: Buffer = sha256();

/** RFC 6962 leaf hash: SHA-256(0x00 ‖ data). */
export function leafHash(data: Buffer): Buffer {
  return sha256(Buffer.of(0), data);
}

/** `0x01 ‖ left ‖ right` of the node being hashed (synchronous use only). */
const NODE = Buffer.alloc(1 + 2 * HASH_SIZE, 1);

/**
 * SHA-256 of `data` as a 32-byte Buffer, the cheap way for the per-record hot path: the digest
 * comes back as a 'binary' (latin1) string, one char per byte, and is copied into the small-buffer pool.
 * A Buffer digest from node:crypto gets a backing store of its own, which cost about twice the
 * CPU per hash in a micro-benchmark (GC of the external memory included).
 */
export function sha256Pooled(data: Buffer): Buffer {
  return Buffer.from(hash('sha256', data, 'binary'), 'latin1');
}

/** RFC 6962 interior node hash: SHA-256(0x01 ‖ left ‖ right). One-shot: the writer runs it per record. */
export function nodeHash(left: Buffer, right: Buffer): Buffer {
  if (left.length !== HASH_SIZE || right.length !== HASH_SIZE) return sha256(Buffer.of(1), left, right);
  left.copy(NODE, 1);
  right.copy(NODE, 1 + HASH_SIZE);
  return sha256Pooled(NODE);
}

/** Root of a tree from its compact range hashes (largest subtree first; EMPTY_ROOT when none). */
export function rootOfRange(hashes: readonly Buffer[]): Buffer {
  if (hashes.length === 0) return Buffer.from(EMPTY_ROOT);
  let h = hashes[hashes.length - 1] as Buffer;
  for (let i = hashes.length - 2; i >= 0; i -= 1) h = nodeHash(hashes[i] as Buffer, h);
  return h;
}

function checkSize(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new ProofError(`${what} must be a non-negative safe integer, got ${String(n)}`);
}

function isOdd(n: number): boolean {
  return n % 2 === 1;
}

function half(n: number): number {
  return Math.floor(n / 2);
}

/** The largest power of two strictly smaller than n (n ≥ 2): where RFC 6962 splits a tree. */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** Serialised CompactRange: the tree size and the roots of its perfect subtrees, left to right. */
export interface CompactRangeState {
  size: number;
  hashes: string[];
}

/**
 * The O(log n) state that lets an append-only writer compute every new root without re-reading
 * the log: the roots of the perfect subtrees that make up the tree, largest (leftmost) first —
 * one per set bit of `size`.
 */
export class CompactRange {
  #size = 0;
  readonly #hashes: Buffer[] = [];

  constructor(state?: CompactRangeState) {
    if (!state) return;
    checkSize(state.size, 'compact range size');
    let bits = 0;
    for (let s = state.size; s > 0; s = half(s)) if (isOdd(s)) bits += 1;
    if (!Array.isArray(state.hashes) || state.hashes.length !== bits) {
      throw new ProofError(`compact range of size ${state.size} needs ${bits} hashes, got ${state.hashes?.length ?? 0}`);
    }
    for (const h of state.hashes) {
      const b = Buffer.from(h, 'base64');
      if (b.length !== HASH_SIZE) throw new ProofError('compact range hash is not 32 bytes');
      this.#hashes.push(b);
    }
    this.#size = state.size;
  }

  /** Number of leaves appended so far. */
  get size(): number {
    return this.#size;
  }

  /** Appends one leaf hash (32 bytes), merging equal-sized subtrees. */
  append(leaf: Buffer): void {
    if (leaf.length !== HASH_SIZE) throw new ProofError(`leaf hash must be ${HASH_SIZE} bytes, got ${leaf.length}`);
    let h = leaf;
    // Each trailing 1 bit of the old size is a perfect subtree of the same height as `h`.
    for (let s = this.#size; isOdd(s); s = half(s)) {
      const left = this.#hashes.pop();
      if (!left) throw new ProofError('compact range is corrupt');
      h = nodeHash(left, h);
    }
    this.#hashes.push(h);
    this.#size += 1;
  }

  /** Root hash of the tree so far (EMPTY_ROOT for size 0). */
  root(): Buffer {
    return rootOfRange(this.#hashes);
  }

  /**
   * The subtree roots as they are now (a copy of the list; the hashes themselves are never
   * mutated): `rootOfRange` of it is `root()` at this size, computed only when needed.
   */
  frontier(): readonly Buffer[] {
    return this.#hashes.slice();
  }

  /** A copy that can be appended to independently. */
  clone(): CompactRange {
    return new CompactRange(this.toJSON());
  }

  toJSON(): CompactRangeState {
    return { size: this.#size, hashes: this.#hashes.map((h) => h.toString('base64')) };
  }

  static fromJSON(state: CompactRangeState): CompactRange {
    return new CompactRange(state);
  }
}

/** MTH(leaves[lo:hi]) by recursion on the RFC 6962 split; depth is log2(n). */
function subtreeRoot(leaves: readonly Buffer[], lo: number, hi: number): Buffer {
  const n = hi - lo;
  if (n === 0) return Buffer.from(EMPTY_ROOT);
  if (n === 1) return leaves[lo] as Buffer;
  const k = splitPoint(n);
  return nodeHash(subtreeRoot(leaves, lo, lo + k), subtreeRoot(leaves, lo + k, hi));
}

/** Root of the tree whose leaf hashes are `leaves` (RFC 6962 MTH). */
export function rootFromLeaves(leaves: readonly Buffer[]): Buffer {
  const cr = new CompactRange();
  for (const l of leaves) cr.append(l);
  return cr.root();
}

/** RFC 6962 §2.1.1 PATH(index, leaves[0:size]) — the audit path, leaf-side first. */
export function inclusionProof(leaves: readonly Buffer[], index: number, size: number = leaves.length): Buffer[] {
  checkSize(index, 'index');
  checkSize(size, 'tree size');
  if (size > leaves.length) throw new ProofError(`tree size ${size} exceeds the ${leaves.length} leaves given`);
  if (index >= size) throw new ProofError(`index ${index} is outside a tree of size ${size}`);
  const out: Buffer[] = [];
  let lo = 0;
  let hi = size;
  let m = index;
  // Walk down from the root; siblings are collected root-side first, then reversed.
  while (hi - lo > 1) {
    const k = splitPoint(hi - lo);
    if (m < k) {
      out.push(subtreeRoot(leaves, lo + k, hi));
      hi = lo + k;
    } else {
      out.push(subtreeRoot(leaves, lo, lo + k));
      lo += k;
      m -= k;
    }
  }
  return out.reverse();
}

/** RFC 6962 §2.1.2 PROOF(size1, leaves[0:size2]); empty when the sizes are equal. */
export function consistencyProof(leaves: readonly Buffer[], size1: number, size2: number): Buffer[] {
  checkSize(size1, 'size1');
  checkSize(size2, 'size2');
  if (size2 > leaves.length) throw new ProofError(`size2 ${size2} exceeds the ${leaves.length} leaves given`);
  if (size1 > size2) throw new ProofError(`size1 ${size1} is greater than size2 ${size2}`);
  if (size1 === 0) throw new ProofError('a consistency proof from the empty tree is meaningless');
  if (size1 === size2) return [];
  const out: Buffer[] = [];
  // SUBPROOF(m, D[lo:hi], b), unrolled; siblings collected root-side first, then reversed.
  let lo = 0;
  let hi = size2;
  let m = size1;
  let complete = true;
  for (;;) {
    const n = hi - lo;
    if (m === n) {
      if (!complete) out.push(subtreeRoot(leaves, lo, hi));
      break;
    }
    const k = splitPoint(n);
    if (m <= k) {
      out.push(subtreeRoot(leaves, lo + k, hi));
      hi = lo + k;
    } else {
      out.push(subtreeRoot(leaves, lo, lo + k));
      lo += k;
      m -= k;
      complete = false;
    }
  }
  return out.reverse();
}

function checkHash(h: Buffer, what: string): void {
  if (!Buffer.isBuffer(h) || h.length !== HASH_SIZE) throw new ProofError(`${what} must be ${HASH_SIZE} bytes, got ${Buffer.isBuffer(h) ? h.length : typeof h}`);
}

function checkProof(proof: readonly Buffer[]): void {
  proof.forEach((p, i) => checkHash(p, `proof element ${i}`));
}

/**
 * Root implied by an inclusion proof (RFC 9162 §2.1.3.2). Throws when the proof is too long or
 * too short for (index, size).
 */
export function rootFromInclusionProof(index: number, size: number, leaf: Buffer, proof: readonly Buffer[]): Buffer {
  checkSize(index, 'index');
  checkSize(size, 'tree size');
  if (index >= size) throw new ProofError(`index ${index} is outside a tree of size ${size}`);
  checkHash(leaf, 'leaf hash');
  checkProof(proof);
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) throw new ProofError('inclusion proof is too long');
    if (isOdd(fn) || fn === sn) {
      r = nodeHash(p, r);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) throw new ProofError('inclusion proof is too short');
  return r;
}

/** Verifies that `leaf` is at `index` in the tree of `size` with `root` (RFC 9162 §2.1.3.2). */
export function verifyInclusion(index: number, size: number, leaf: Buffer, proof: readonly Buffer[], root: Buffer): void {
  checkHash(root, 'root');
  const got = rootFromInclusionProof(index, size, leaf, proof);
  if (!got.equals(root)) throw new ProofError('inclusion proof does not lead to the root');
}

/**
 * Verifies that the tree (size1, root1) is a prefix of (size2, root2) (RFC 9162 §2.1.4.2), with
 * the stricter edge rules of checklist §3.3: size1 = 0 is rejected, equal sizes need an empty
 * proof and byte-identical roots, size1 > size2 is an error.
 */
export function verifyConsistency(size1: number, size2: number, proof: readonly Buffer[], root1: Buffer, root2: Buffer): void {
  checkSize(size1, 'size1');
  checkSize(size2, 'size2');
  if (size1 > size2) throw new ProofError(`size1 ${size1} is greater than size2 ${size2}`);
  if (size1 === 0) throw new ProofError('a consistency proof from the empty tree is meaningless');
  if (size1 === size2) {
    if (proof.length !== 0) throw new ProofError('sizes are equal but the proof is not empty');
    if (!Buffer.isBuffer(root1) || !Buffer.isBuffer(root2) || !root1.equals(root2)) throw new ProofError('sizes are equal but the roots differ');
    return;
  }
  checkHash(root1, 'root1');
  checkHash(root2, 'root2');
  if (proof.length === 0) throw new ProofError('consistency proof is empty');
  checkProof(proof);
  // If size1 is a power of two, the old root is itself a node of the new tree and starts the walk.
  let pow2 = 1;
  while (pow2 < size1) pow2 *= 2;
  const path = pow2 === size1 ? [root1, ...proof] : [...proof];
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr = path[0] as Buffer;
  let sr = fr;
  for (let i = 1; i < path.length; i += 1) {
    const c = path[i] as Buffer;
    if (sn === 0) throw new ProofError('consistency proof is too long');
    if (isOdd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) throw new ProofError('consistency proof is too short');
  if (!fr.equals(root1)) throw new ProofError('consistency proof does not lead to the old root');
  if (!sr.equals(root2)) throw new ProofError('consistency proof does not lead to the new root');
}
