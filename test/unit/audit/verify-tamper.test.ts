/**
 * Security checklist I3 (tamper detection) and I10 (tenant separation) against logs written by
 * the real LogWriter: each kind of damage is detected and named by its first bad seq; the
 * untouched log passes. Layout of the built log (segments hold ~5 records):
 *   seq 0–5 calls, checkpoint 6, seq 6 audit.checkpoint, 7–12 calls, checkpoint 13, seq 13
 *   audit.checkpoint, 14–19 calls, checkpoint 20, seq 20 audit.checkpoint (unsigned tail of 1).
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseVerifierKey, signCheckpoint, verifierKey } from '../../../src/audit/checkpoint.js';
import { canonical } from '../../../src/audit/canonical.js';
import { leafHash } from '../../../src/audit/merkle.js';
import { proveConsistency, proveInclusion, verifyLog, type VerifyReport } from '../../../src/audit/verify.js';
import { applyRetention } from '../../../src/audit/retention.js';
import { verifyConsistency, verifyInclusion } from '../../../src/audit/merkle.js';
import { appendRecord, buildLog, copyLog, readRecords, rechain, segmentFiles, writeRecords, type BuiltLog } from './log-builder.js';

let tmp = '';
let pristine: BuiltLog;
let other: BuiltLog; // same tenant, another run: its own key and chain
let globex: BuiltLog; // another tenant
let copies = 0;

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'portcullis-verify-'));
  pristine = await buildLog(join(tmp, 'pristine'));
  other = await buildLog(join(tmp, 'other'));
  globex = await buildLog(join(tmp, 'globex'), { tenant: 'globex' });
});
after(() => rmSync(tmp, { recursive: true, force: true }));

const fresh = (): BuiltLog => copyLog(pristine, join(tmp, `copy-${(copies += 1)}`));
const noteFile = (log: BuiltLog, size: number) => join(log.logDir, 'checkpoints', `${String(size).padStart(20, '0')}.note`);

function verify(log: BuiltLog, o: { witnessed?: boolean; keys?: string[]; origin?: string } = {}): VerifyReport {
  return verifyLog({
    logDir: log.logDir,
    keys: (o.keys ?? [log.pub]).map(parseVerifierKey),
    external: o.witnessed ? [{ source: 'witness', text: readFileSync(log.witnessNote) }] : [],
    ...(o.origin ? { origin: o.origin } : {}),
  });
}

function expectFailure(r: VerifyReport, seq: number, check: string, re?: RegExp): void {
  assert.equal(r.ok, false, 'must fail');
  assert.equal(r.failure?.seq, seq, `first bad seq (${r.failure?.check}: ${r.failure?.reason})`);
  assert.equal(r.failure?.check, check, r.failure?.reason);
  if (re) assert.match(r.failure?.reason ?? '', re);
}

describe('the untouched log', () => {
  it('passes, with and without the witnessed checkpoint', () => {
    assert.deepEqual(pristine.checkpoints, [6, 13, 20]);
    assert.ok(segmentFiles(pristine.logDir).length >= 4, 'spans several segments');
    for (const witnessed of [false, true]) {
      const r = verify(pristine, { witnessed });
      assert.equal(r.ok, true, JSON.stringify(r.failure));
      assert.equal(r.size, 21);
      assert.equal(r.checkpoints, 3);
      assert.equal(r.latestCheckpoint?.size, 20);
      assert.equal(r.unsignedTail, 1);
    }
  });
});

describe('tampering is detected and named by the first bad seq (I3)', () => {
  it('a flipped byte inside a value', () => {
    const log = fresh();
    const lines = readRecords(log.logDir);
    const l = lines[8]!;
    const at = l.line.indexOf('"hmac_sha256":"ab') + 16;
    const b = Buffer.from(l.line);
    b[at] = (b[at] as number) ^ 0x01;
    l.line = b.toString();
    writeRecords(log.logDir, lines);
    expectFailure(verify(log), 8, 'prev', /seq 8 does not hash/);
  });

  it('a flipped byte that breaks the JSON', () => {
    const log = fresh();
    const lines = readRecords(log.logDir);
    lines[8]!.line = `z${lines[8]!.line.slice(1)}`;
    writeRecords(log.logDir, lines);
    expectFailure(verify(log), 8, 'canonical');
  });

  it('a record re-serialised in non-canonical form', () => {
    const log = fresh();
    const lines = readRecords(log.logDir);
    lines[8]!.line = JSON.stringify(JSON.parse(lines[8]!.line), null, 0).replace('{', '{ ');
    writeRecords(log.logDir, lines);
    expectFailure(verify(log), 8, 'canonical');
  });

  it('a deleted record', () => {
    const log = fresh();
    writeRecords(log.logDir, readRecords(log.logDir).filter((l) => l.seq !== 8));
    expectFailure(verify(log), 8, 'seq', /expected seq 8, found 9/);
  });

  it('two swapped records', () => {
    const log = fresh();
    const lines = readRecords(log.logDir);
    const [a, b] = [lines[7]!, lines[8]!];
    [a.line, b.line] = [b.line, a.line];
    writeRecords(log.logDir, lines);
    expectFailure(verify(log), 7, 'seq');
  });

  it('an inserted forged record', () => {
    const log = fresh();
    const lines = readRecords(log.logDir);
    const prev = leafHash(Buffer.from(lines[7]!.line)).toString('hex');
    const forged = canonical({ v: 1, log: log.origin, seq: 8, ts: new Date().toISOString(), type: 'tool.call.result', call: 'call-1-0', result: { bytes: 1, hmac_sha256: 'cd'.repeat(32), is_error: false }, prev });
    lines.splice(8, 0, { seq: 8, line: forged, segment: lines[8]!.segment });
    writeRecords(log.logDir, lines);
    expectFailure(verify(log), 8, 'seq', /appears again/);
  });

  it('an edited record with the chain re-hashed (checkpoints not re-signed)', () => {
    const log = fresh();
    const lines = readRecords(log.logDir);
    const rec = JSON.parse(lines[8]!.line) as { result: { is_error: boolean } };
    rec.result.is_error = true;
    lines[8]!.line = canonical(rec);
    writeRecords(log.logDir, rechain(lines, 9));
    // The chain is valid again, so only the signed root shows it: the edit lies after the last
    // checkpoint that still verifies (6) and before the first that fails (13).
    expectFailure(verify(log), 6, 'root', /6\.\.12/);
  });

  it('tail truncation below a witnessed checkpoint', () => {
    const log = fresh();
    writeRecords(log.logDir, readRecords(log.logDir).filter((l) => l.seq < 14));
    unlinkSync(noteFile(log, 20)); // the forger also drops the local checkpoint …
    assert.equal(verify(log).ok, true, 'locally consistent: only an outside copy can tell');
    expectFailure(verify(log, { witnessed: true }), 14, 'truncation', /14\.\.19/); // … but the witness kept it
  });

  it('truncation below a local checkpoint', () => {
    const log = fresh();
    writeRecords(log.logDir, readRecords(log.logDir).filter((l) => l.seq < 17));
    expectFailure(verify(log), 17, 'truncation');
  });

  it('a replaced segment', () => {
    const log = fresh();
    const seg = segmentFiles(log.logDir)[1]!;
    assert.equal(seg, segmentFiles(other.logDir)[1]);
    writeFileSync(join(log.logDir, seg), readFileSync(join(other.logDir, seg)));
    expectFailure(verify(log), 5, 'prev');
  });

  it('a deleted segment', () => {
    const log = fresh();
    unlinkSync(join(log.logDir, segmentFiles(log.logDir)[1]!));
    expectFailure(verify(log), 5, 'segment', /missing/);
  });

  it('a checkpoint signed only by an unknown key', () => {
    const log = fresh();
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const body = readFileSync(noteFile(log, 13), 'utf8').split('\n\n')[0]!.split('\n');
    const forged = signCheckpoint({ origin: body[0]!, size: Number(body[1]), root: Buffer.from(body[2]!, 'base64') }, { name: log.origin, privateKey, publicKey });
    writeFileSync(noteFile(log, 13), forged);
    expectFailure(verify(log), 6, 'signature', /no valid signature from a trusted key/);
  });

  it('a known-key signature that fails', () => {
    const log = fresh();
    const text = readFileSync(noteFile(log, 13), 'utf8');
    const [body, sigLine] = text.split('\n\n') as [string, string];
    const parts = sigLine.trim().split(' ');
    const raw = Buffer.from(parts[2]!, 'base64');
    raw[20] = (raw[20] as number) ^ 0x80; // inside the signature, key id untouched
    writeFileSync(noteFile(log, 13), `${body}\n\n${parts[0]} ${parts[1]} ${raw.toString('base64')}\n`);
    expectFailure(verify(log), 6, 'signature', /invalid signature for trusted key/);
  });

  it('a rollback: an older, smaller checkpoint after a newer one', () => {
    const log = fresh();
    writeFileSync(noteFile(log, 20), readFileSync(noteFile(log, 13)));
    expectFailure(verify(log), 13, 'rollback');
  });

  it('a fork: two signed checkpoints of the same size with different roots', () => {
    const log = fresh();
    const forkNote = join(tmp, `fork-${copies}.note`);
    writeFileSync(forkNote, signCheckpoint({ origin: log.origin, size: 13, root: leafHash(Buffer.from('other history')) }, log.signer));
    const r = verifyLog({ logDir: log.logDir, keys: [parseVerifierKey(log.pub)], external: [{ source: forkNote, text: readFileSync(forkNote) }] });
    expectFailure(r, 6, 'fork');
  });

  it('a witnessed checkpoint inconsistent with the local log', () => {
    const log = fresh();
    const cpNote = join(tmp, `incons-${copies}.note`);
    writeFileSync(cpNote, signCheckpoint({ origin: log.origin, size: 10, root: leafHash(Buffer.from('x')) }, log.signer));
    const r = verifyLog({ logDir: log.logDir, keys: [parseVerifierKey(log.pub)], external: [{ source: cpNote, text: readFileSync(cpNote) }] });
    expectFailure(r, 6, 'witness', /not consistent/);
  });
});

describe('tenant separation (I10)', () => {
  it("another tenant's key does not verify this log", () => {
    expectFailure(verify(pristine, { keys: [globex.pub] }), 0, 'signature', /no --key is named after this log's origin "portcullis\/acme"/);
    assert.equal(verify(globex).ok, true);
  });

  it("another tenant's log in this tenant's place is refused", () => {
    expectFailure(verify(globex, { keys: [pristine.pub], origin: pristine.origin }), 0, 'origin');
    expectFailure(verify(globex, { keys: [pristine.pub] }), 0, 'signature');
  });

  it('a key of the same name from another run does not verify it', () => {
    expectFailure(verify(pristine, { keys: [other.pub] }), 0, 'signature');
  });
});

describe('a log cut by retention (retention.json)', () => {
  it('verifies from the cut; a forged frontier or a deleted retained record is caught', async () => {
    const log = fresh();
    const res = await applyRetention(log.logDir, { maxAge: 1, now: Date.now() + 60_000 });
    assert.ok(res.first_seq > 0, 'some sealed, signed segments were deleted');
    const r = verify(log);
    assert.equal(r.ok, true, JSON.stringify(r.failure));
    assert.equal(r.firstSeq, res.first_seq);
    assert.equal(r.size, 21);

    const state = JSON.parse(readFileSync(join(log.logDir, 'retention.json'), 'utf8')) as { frontier: { hashes: string[] } };
    const forged = structuredClone(state);
    forged.frontier.hashes[0] = leafHash(Buffer.from('forged')).toString('base64');
    writeFileSync(join(log.logDir, 'retention.json'), JSON.stringify(forged));
    assert.equal(verify(log).ok, false);
    writeFileSync(join(log.logDir, 'retention.json'), JSON.stringify(state));

    writeRecords(log.logDir, readRecords(log.logDir).filter((l) => l.seq !== res.first_seq));
    expectFailure(verify(log), res.first_seq, 'seq');
  });
});

describe('key rotation (checklist §3.4)', () => {
  it('the newest key vouches for the old one through a covered audit.key_rotated record', async () => {
    const log = await buildLog(join(tmp, 'rotated'), { rotateAfterBatch: 0 });
    assert.ok(log.rotatedPub);
    const cp13 = readFileSync(noteFile(log, 14), 'utf8');
    assert.equal(cp13.split('\n').filter((l) => l.startsWith('\u2014 ')).length, 2, 'first checkpoint after the rotation carries both signatures');
    const r = verify(log, { keys: [log.rotatedPub!] });
    assert.equal(r.ok, true, JSON.stringify(r.failure));
    assert.equal(verify(log, { keys: [log.pub, log.rotatedPub!] }).ok, true);
    // The old key alone does not vouch for checkpoints signed only by the new one.
    expectFailure(verify(log, { keys: [log.pub] }), 14, 'signature');
  });

  it('a forged rotation record in the unsigned tail does not make a forger key trusted', () => {
    const log = fresh();
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const forger = { name: log.origin, privateKey, publicKey };
    const body = readFileSync(noteFile(log, 6), 'utf8').split('\n\n')[0]!.split('\n');
    writeFileSync(noteFile(log, 6), signCheckpoint({ origin: log.origin, size: 6, root: Buffer.from(body[2]!, 'base64') }, forger));
    const lines = readRecords(log.logDir);
    const last = lines[lines.length - 1]!;
    appendRecord(log.logDir, { v: 1, log: log.origin, seq: 21, ts: new Date().toISOString(), type: 'audit.key_rotated', old_key: verifierKey(log.origin, publicKey), new_key: log.pub, prev: leafHash(Buffer.from(last.line)).toString('hex') });
    expectFailure(verify(log), 0, 'signature');
  });
});

describe('outcomes (checklist §3.6 step 8)', () => {
  it('a signed decision without an outcome fails', async () => {
    const log = await buildLog(join(tmp, 'open'), { openDecisionInBatch: 0 });
    expectFailure(verify(log), 6, 'outcome', /open-0/);
  });

  it('a decision in the unsigned tail is pending, not failed; a torn final line is ignored', async () => {
    const log = await buildLog(join(tmp, 'tail'), { tailDecision: true });
    const segs = segmentFiles(log.logDir);
    appendFileSync(join(log.logDir, segs[segs.length - 1]!), '{"v":1,"log":');
    const r = verify(log);
    assert.equal(r.ok, true, JSON.stringify(r.failure));
    assert.deepEqual(r.pending, [{ seq: 21, call: 'tail-call' }]);
    assert.equal(r.unsignedTail, 2);
    assert.equal(r.tornBytes, 13);
  });
});

describe('proofs from the log', () => {
  it('inclusion proof of every covered record verifies against the newest checkpoint', () => {
    for (let seq = 0; seq < 20; seq += 1) {
      const p = proveInclusion(pristine.logDir, seq, [parseVerifierKey(pristine.pub)]);
      assert.equal(p.treeSize, 20);
      verifyInclusion(seq, 20, Buffer.from(p.leaf, 'base64'), p.proof.map((h) => Buffer.from(h, 'base64')), Buffer.from(p.root, 'base64'));
    }
    assert.throws(() => proveInclusion(pristine.logDir, 20), /not covered/);
  });

  it('consistency proof between two checkpoints verifies', () => {
    const p = proveConsistency(pristine.logDir, readFileSync(noteFile(pristine, 6)), readFileSync(noteFile(pristine, 20)), [parseVerifierKey(pristine.pub)]);
    assert.equal(p.size1, 6);
    assert.equal(p.size2, 20);
    verifyConsistency(6, 20, p.proof.map((h) => Buffer.from(h, 'base64')), Buffer.from(p.root1, 'base64'), Buffer.from(p.root2, 'base64'));
    assert.throws(() => proveConsistency(pristine.logDir, readFileSync(noteFile(pristine, 20)), readFileSync(noteFile(pristine, 6))), /rollback/);
  });
});
