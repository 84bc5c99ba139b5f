/**
 * Security checklist I4: every inclusion and consistency vector of transparency-dev/merkle in the
 * shared `merkle/` corpus — `wantErr: false` must verify, `wantErr: true` must throw ProofError.
 * The walk counts what it ran and compares with the number of files, so it cannot pass on zero.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { ProofError, verifyConsistency, verifyInclusion } from '../../../src/audit/merkle.js';
import { corporaDir } from '../../helpers/corpora.js';

const ROOT = corporaDir('merkle', 'testdata');

function jsonFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...jsonFiles(p));
    else if (e.isFile()) out.push(p);
  }
  return out.sort();
}

const b64 = (s: string): Buffer => Buffer.from(s, 'base64');
const proofOf = (p: string[] | null): Buffer[] => (p ?? []).map(b64);

interface InclusionVector { leafIdx: number; treeSize: number; root: string; leafHash: string; proof: string[] | null; desc: string; wantErr: boolean }
interface ConsistencyVector { size1: number; size2: number; root1: string; root2: string; proof: string[] | null; desc: string; wantErr: boolean }

function runSet(kind: 'inclusion' | 'consistency', check: (v: never) => void): { ran: number; accepted: number; rejected: number; files: number } {
  const files = jsonFiles(join(ROOT, kind));
  let ran = 0;
  let accepted = 0;
  let rejected = 0;
  for (const f of files) {
    const v = JSON.parse(readFileSync(f, 'utf8')) as { wantErr: boolean; desc: string };
    const name = relative(ROOT, f);
    if (v.wantErr) {
      assert.throws(() => check(v as never), ProofError, `${name} (${v.desc}) must be rejected`);
      rejected += 1;
    } else {
      assert.doesNotThrow(() => check(v as never), `${name} (${v.desc}) must verify`);
      accepted += 1;
    }
    ran += 1;
  }
  return { ran, accepted, rejected, files: files.length };
}

describe('merkle/ corpus (I4)', () => {
  it('inclusion: accepts every good vector and rejects every bad one', () => {
    const r = runSet('inclusion', (v: InclusionVector) => verifyInclusion(v.leafIdx, v.treeSize, b64(v.leafHash), proofOf(v.proof), b64(v.root)));
    assert.equal(r.ran, r.files);
    assert.equal(r.files, 98, 'SOURCE.md promises 98 inclusion vectors');
    assert.deepEqual([r.accepted, r.rejected], [6, 92]);
  });

  it('consistency: accepts every good vector and rejects every bad one', () => {
    const r = runSet('consistency', (v: ConsistencyVector) => verifyConsistency(v.size1, v.size2, proofOf(v.proof), b64(v.root1), b64(v.root2)));
    assert.equal(r.ran, r.files);
    assert.equal(r.files, 98, 'SOURCE.md promises 98 consistency vectors');
    assert.deepEqual([r.accepted, r.rejected], [6, 92]);
  });
});
