/**
 * What `verifyLog` and the proofs accept as vouched for (docs/audit.md "Verifying"): a directory
 * that is not a log is a usage error; records need a checkpoint signed by a --key named after the
 * log's origin; a damaged retention.json is an integrity failure; inputs are read with a bound;
 * proofs report a bad signature or a broken chain as integrity failures.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MAX_NOTE_BYTES, parseVerifierKey, readFileBounded } from '../../../src/audit/checkpoint.js';
import { canonical } from '../../../src/audit/canonical.js';
import { applyRetention } from '../../../src/audit/retention.js';
import { IntegrityError, VerifyUsageError, proveConsistency, proveInclusion, verifyLog, type VerifyReport } from '../../../src/audit/verify.js';
import { buildLog, copyLog, readRecords, writeRecords, type BuiltLog } from './log-builder.js';

let tmp = '';
let log: BuiltLog;
let globex: BuiltLog;
let copies = 0;

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'portcullis-verify-trust-'));
  log = await buildLog(join(tmp, 'acme'));
  globex = await buildLog(join(tmp, 'globex'), { tenant: 'globex' });
});
after(() => rmSync(tmp, { recursive: true, force: true }));

const fresh = (): BuiltLog => copyLog(log, join(tmp, `copy-${(copies += 1)}`));
const verify = (logDir: string, pub = log.pub): VerifyReport => verifyLog({ logDir, keys: [parseVerifierKey(pub)] });
const noteFile = (l: BuiltLog, size: number) => join(l.logDir, 'checkpoints', `${String(size).padStart(20, '0')}.note`);

/** A log no key ever signed: canonical records with a valid prev chain and no checkpoint (what anyone can write). */
function forge(dir: string, origin: string): string {
  mkdirSync(dir, { recursive: true });
  let prev = '';
  let out = '';
  for (let seq = 0; seq < 4; seq += 1) {
    const line = canonical({ v: 1, log: origin, seq, ts: '2026-01-01T00:00:00.000Z', type: seq % 2 ? 'tool.call.result' : 'tool.call.decision', call: `c${seq >> 1}`, prev });
    out += `${line}\n`;
    prev = createHash('sha256').update(Buffer.of(0)).update(line).digest('hex');
  }
  writeFileSync(join(dir, 'seg-00000000000000000000.jsonl'), out);
  return dir;
}

function expectFailure(r: VerifyReport, seq: number, check: string, re: RegExp): void {
  assert.equal(r.ok, false, 'must fail');
  assert.equal(r.failure?.seq, seq, `${r.failure?.check}: ${r.failure?.reason}`);
  assert.equal(r.failure?.check, check, r.failure?.reason);
  assert.match(r.failure?.reason ?? '', re);
}

describe('a directory that holds no log is a usage error, not an empty ok', () => {
  it('the audit directory, its logs/ and an empty directory; the message names the log directories', () => {
    const empty = join(tmp, 'empty');
    mkdirSync(empty);
    for (const dir of [log.auditDir, join(log.auditDir, 'logs'), empty]) {
      assert.throws(() => verify(dir), (e: unknown) => {
        assert.ok(e instanceof VerifyUsageError, String(e));
        assert.match(e.message, /^no audit log in .* \(no seg-\*\.jsonl segments or checkpoints\)/);
        if (dir !== empty) assert.ok(e.message.includes(log.logDir), e.message);
        return true;
      });
    }
  });
});

describe('only a checkpoint signed by a --key named after the origin vouches for records', () => {
  it('a forged log of another origin: FAIL seq 0 naming the origin', () => {
    const r = verify(forge(join(tmp, 'forged-evil'), 'evil/x'));
    expectFailure(r, 0, 'signature', /no --key is named after this log's origin "evil\/x"/);
  });

  it('a forged log with the right origin and no checkpoint: FAIL seq 0', () => {
    const r = verify(forge(join(tmp, 'forged-acme'), log.origin));
    expectFailure(r, 0, 'signature', /no checkpoint signed by a --key covers records 0\.\.3/);
  });

  it('a real log whose checkpoints were all deleted fails; the unsigned tail after a checkpoint does not', () => {
    const l = fresh();
    for (const s of l.checkpoints) unlinkSync(noteFile(l, s));
    // The audit.checkpoint records also name the deleted notes; with those cut off too only the signature rule is left.
    writeRecords(l.logDir, readRecords(l.logDir).filter((x) => x.seq < 6));
    expectFailure(verify(l.logDir), 0, 'signature', /nothing vouches/);
    const ok = verify(log.logDir);
    assert.equal(ok.ok, true, JSON.stringify(ok.failure));
    assert.equal(ok.unsignedTail, 1);
  });
});

describe('a damaged retention.json is an integrity failure (exit 1), never an internal error', () => {
  it('frontier hashes that are not hashes, a missing or absurd size, a non-object, bad JSON', async () => {
    const l = fresh();
    const res = await applyRetention(l.logDir, { maxAge: 1, now: Date.now() + 60_000 });
    assert.ok(res.first_seq > 0);
    const file = join(l.logDir, 'retention.json');
    const state = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    assert.equal(verify(l.logDir).ok, true);
    const damaged: [string, RegExp][] = [
      [JSON.stringify({ ...state, frontier: { size: 1, hashes: [1] } }), /frontier hashes must be base64 SHA-256 hashes/],
      [JSON.stringify({ ...state, frontier: {} }), /frontier size is not a non-negative integer/],
      [JSON.stringify({ ...state, frontier: { size: 1e300 } }), /frontier size is not a non-negative integer/],
      [JSON.stringify({ ...state, frontier: { size: res.first_seq, hashes: [] } }), /frontier of size \d+ must hold \d+ hashes/],
      [JSON.stringify({ ...state, prev: 7 }), /prev is not the hex leaf hash/],
      [JSON.stringify({ ...state, checkpoint: null }), /checkpoint is not a signed note/],
      ['{}', /first_seq is not a non-negative integer/],
      ['[1]', /not a JSON object/],
      ['{"first_seq":', /not valid UTF-8 JSON/],
    ];
    for (const [text, re] of damaged) {
      writeFileSync(file, text);
      const r = verify(l.logDir);
      expectFailure(r, res.first_seq, 'retention', re);
    }
  });
});

describe('bounded reads', () => {
  it('readFileBounded refuses devices and FIFOs and reads at most limit + 1 bytes', () => {
    assert.throws(() => readFileBounded('/dev/zero', 10), /not a regular file/);
    const fifo = join(tmp, 'fifo');
    execFileSync('mkfifo', [fifo]);
    assert.throws(() => readFileBounded(fifo, 10), /not a regular file/);
    const big = join(tmp, 'big');
    writeFileSync(big, Buffer.alloc(100_000, 0x41));
    assert.equal(readFileBounded(big, 10).length, 11);
    assert.equal(readFileBounded(big, 200_000).length, 100_000);
  });

  it('an oversized note in the log is refused as a checkpoint without being read whole; a FIFO note is an I/O error', () => {
    const l = fresh();
    writeFileSync(noteFile(l, 13), Buffer.alloc(MAX_NOTE_BYTES + 4096, 0x41));
    expectFailure(verify(l.logDir), 6, 'checkpoint', /note is too large/);
    unlinkSync(noteFile(l, 13));
    execFileSync('mkfifo', [noteFile(l, 13)]);
    assert.throws(() => verify(l.logDir), (e: unknown) => e instanceof VerifyUsageError && /not a regular file/.test(e.message));
  });
});

describe('proof failures of the log itself are integrity failures', () => {
  it('a key of another log, or a checkpoint whose signature fails, is an IntegrityError', () => {
    assert.throws(() => proveInclusion(log.logDir, 1, [parseVerifierKey(globex.pub)]), (e: unknown) => e instanceof IntegrityError && /no trusted key is named after/.test(e.message));
    const l = fresh();
    const text = readFileSync(noteFile(l, 20), 'utf8');
    writeFileSync(noteFile(l, 20), text.replace(/\n(\d+)\n/, '\n19\n'));
    assert.throws(() => proveInclusion(l.logDir, 1, [parseVerifierKey(l.pub)]), (e: unknown) => e instanceof IntegrityError && /invalid signature/.test(e.message));
  });

  it('a deleted record (broken chain) is an IntegrityError naming its seq, for --seq and --from/--to', () => {
    const l = fresh();
    writeRecords(l.logDir, readRecords(l.logDir).filter((x) => x.seq !== 2));
    assert.throws(() => proveInclusion(l.logDir, 1), (e: unknown) => e instanceof IntegrityError && e.seq === 2 && /out of order or off the chain/.test(e.message));
    assert.throws(
      () => proveConsistency(l.logDir, readFileSync(noteFile(l, 6)), readFileSync(noteFile(l, 13))),
      (e: unknown) => e instanceof IntegrityError && e.seq === 2,
    );
  });
});
