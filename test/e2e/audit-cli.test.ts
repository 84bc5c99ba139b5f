/** `portcullis audit verify|proof` end to end: the CLI runs as a child process from source; exit codes (0/1/2) and output are its interface. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { canonical } from '../../src/audit/canonical.js';
import { leafHash, verifyConsistency, verifyInclusion } from '../../src/audit/merkle.js';
import { applyRetention } from '../../src/audit/retention.js';
import { buildLog, copyLog, readRecords, writeRecords, type BuiltLog } from '../unit/audit/log-builder.js';
import { runCli } from '../helpers/cli.js';


const cli = runCli;

let dir = '';
let log: BuiltLog;
let tampered: BuiltLog;
const note = (l: BuiltLog, size: number) => join(l.logDir, 'checkpoints', `${String(size).padStart(20, '0')}.note`);
const b64 = (s: string) => Buffer.from(s, 'base64');

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'portcullis-audit-cli-'));
  log = await buildLog(join(dir, 'log'));
  tampered = copyLog(log, join(dir, 'tampered'));
  writeRecords(tampered.logDir, readRecords(tampered.logDir).filter((l) => l.seq !== 8));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('portcullis audit verify', () => {
  it('exits 0 on an intact log (key string or .pub file) and prints a summary', async () => {
    const r = await cli(['audit', 'verify', '--log', log.logDir, '--key', log.pub, '--checkpoint', log.witnessNote]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /^ok: log portcullis\/acme: 21 records \(seq 0\.\.20\), 3 checkpoints; 1 record \(seq 20\) not yet covered by a signed checkpoint$/m);
    assert.match(r.stdout, /witnessed: .* size 20 consistent/);
    const f = await cli(['audit', 'verify', '--log', log.logDir, '--key', log.pubFile, '--json']);
    assert.equal(f.code, 0, f.stderr);
    const j = JSON.parse(f.stdout) as { ok: boolean; size: number; latestCheckpoint: { size: number } };
    assert.equal(j.ok, true);
    assert.equal(j.size, 21);
    assert.equal(j.latestCheckpoint.size, 20);
  });

  it('exits 1 naming the first bad seq and the reason', async () => {
    const r = await cli(['audit', 'verify', '--log', tampered.logDir, '--key', log.pub]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /^FAIL seq 8: seq: expected seq 8, found 9/m);
    const j = await cli(['audit', 'verify', '--log', tampered.logDir, '--key', log.pub, '--json']);
    assert.equal(j.code, 1);
    assert.deepEqual((JSON.parse(j.stdout) as { failure: { seq: number; check: string } }).failure.seq, 8);
  });

  it("exits 1 with another tenant's key", async () => {
    const other = await buildLog(join(dir, 'globex'), { tenant: 'globex' });
    const r = await cli(['audit', 'verify', '--log', log.logDir, '--key', other.pub]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /FAIL seq 0: signature/);
  });

  it('exits 2 on usage and I/O errors', async () => {
    for (const args of [
      ['audit', 'verify', '--key', log.pub],
      ['audit', 'verify', '--log', log.logDir],
      ['audit', 'verify', '--log', join(dir, 'nope'), '--key', log.pub],
      ['audit', 'verify', '--log', log.logDir, '--key', 'not-a-key'],
      ['audit', 'verify', '--log', log.logDir, '--key', log.pub, '--checkpoint', join(dir, 'missing.note')],
      ['audit', 'verify', '--log', log.logDir, '--key', log.pub, '--bogus'],
    ]) {
      const r = await cli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.ok(r.stderr.length > 0);
    }
  });
});

/** Four chained records nobody signed, as anyone could write them. */
function forge(name: string, origin: string): string {
  const d = join(dir, name);
  mkdirSync(d);
  let prev = '';
  let text = '';
  for (let seq = 0; seq < 4; seq += 1) {
    const line = canonical({ v: 1, log: origin, seq, ts: '2026-01-01T00:00:00.000Z', type: 'tool.list', count: 1, prev });
    text += `${line}\n`;
    prev = leafHash(Buffer.from(line)).toString('hex');
  }
  writeFileSync(join(d, 'seg-00000000000000000000.jsonl'), text);
  return d;
}

describe('portcullis audit verify: what vouches for a log', () => {
  it('a directory that is not a log (the audit dir, its logs/, an empty dir) exits 2 and points at the log directories', async () => {
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    for (const d of [log.auditDir, join(log.auditDir, 'logs'), empty]) {
      const r = await cli(['audit', 'verify', '--log', d, '--key', log.pub]);
      assert.equal(r.code, 2, `${d}: ${r.stdout}${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^error: no audit log in .* \(no seg-\*\.jsonl segments or checkpoints\)/);
      if (d !== empty) assert.ok(r.stderr.includes(log.logDir), r.stderr);
    }
  });

  it('records no --key signed exit 1: a foreign origin is named, an unsigned log vouches for nothing', async () => {
    const evil = await cli(['audit', 'verify', '--log', forge('forged-evil', 'evil/x'), '--key', log.pub]);
    assert.equal(evil.code, 1, evil.stderr + evil.stdout);
    assert.match(evil.stdout, /^FAIL seq 0: signature: no --key is named after this log's origin "evil\/x"/m);
    const same = await cli(['audit', 'verify', '--log', forge('forged-acme', log.origin), '--key', log.pub, '--json']);
    assert.equal(same.code, 1, same.stderr + same.stdout);
    const j = JSON.parse(same.stdout) as { ok: boolean; failure: { seq: number; check: string; reason: string } };
    assert.deepEqual([j.ok, j.failure.seq, j.failure.check], [false, 0, 'signature']);
    assert.match(j.failure.reason, /nothing vouches/);
  });

  it('a damaged retention.json exits 1 with a retention failure, not an internal error', async () => {
    const cut = copyLog(log, join(dir, 'cut'));
    const res = await applyRetention(cut.logDir, { maxAge: 1, now: Date.now() + 60_000 });
    const file = join(cut.logDir, 'retention.json');
    writeFileSync(file, JSON.stringify({ ...(JSON.parse(readFileSync(file, 'utf8')) as object), frontier: { size: 1, hashes: [1] } }));
    const r = await cli(['audit', 'verify', '--log', cut.logDir, '--key', log.pub]);
    assert.equal(r.code, 1, r.stderr + r.stdout);
    assert.match(r.stdout, new RegExp(`^FAIL seq ${res.first_seq}: retention: retention\\.json frontier hashes must be base64 SHA-256 hashes`, 'm'));
    assert.equal(r.stderr, '');
  });

  it('input files are read with a bound: a device, a FIFO or an oversized file exits 2 at once', async () => {
    const big = join(dir, 'big.note');
    writeFileSync(big, Buffer.alloc(2 * 1024 * 1024, 0x41));
    for (const [args, re] of [
      [['--key', log.pub, '--checkpoint', '/dev/zero'], /--checkpoint \/dev\/zero: not a regular file/],
      [['--key', '/dev/zero'], /--key \/dev\/zero: not a regular file/],
      [['--key', log.pub, '--checkpoint', big], /larger than 1048576 bytes/],
      [['--key', big], /larger than 65536 bytes/],
    ] as [string[], RegExp][]) {
      const started = Date.now();
      const r = await cli(['audit', 'verify', '--log', log.logDir, ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, re);
      assert.ok(Date.now() - started < 30_000);
    }
    const p = await cli(['audit', 'proof', '--log', log.logDir, '--from', '/dev/zero', '--to', note(log, 20)]);
    assert.equal(p.code, 2, p.stdout + p.stderr);
    assert.match(p.stderr, /--from \/dev\/zero: not a regular file/);
  });
});

describe('portcullis audit proof', () => {
  it('--seq prints an inclusion proof against the newest checkpoint', async () => {
    const r = await cli(['audit', 'proof', '--log', log.logDir, '--seq', '5', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const p = JSON.parse(r.stdout) as { leafIndex: number; treeSize: number; leaf: string; root: string; proof: string[] };
    assert.equal(p.leafIndex, 5);
    assert.equal(p.treeSize, 20);
    verifyInclusion(5, 20, b64(p.leaf), p.proof.map(b64), b64(p.root));
    const t = await cli(['audit', 'proof', '--log', log.logDir, '--seq', '5', '--key', log.pub]);
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stdout, /^leaf index: 5$/m);
    assert.match(t.stdout, /^tree size: 20$/m);
    assert.match(t.stdout, new RegExp(`^root: ${p.root.replace(/[+/]/g, '\\$&')}$`, 'm'));
    assert.equal(t.stdout.split('\n').filter((l) => l.startsWith('  ')).length, p.proof.length);
  });

  it('--from/--to prints a consistency proof', async () => {
    const r = await cli(['audit', 'proof', '--log', log.logDir, '--from', note(log, 6), '--to', note(log, 20), '--json']);
    assert.equal(r.code, 0, r.stderr);
    const p = JSON.parse(r.stdout) as { size1: number; size2: number; root1: string; root2: string; proof: string[] };
    assert.deepEqual([p.size1, p.size2], [6, 20]);
    verifyConsistency(6, 20, p.proof.map(b64), b64(p.root1), b64(p.root2));
  });

  it('exits 1 when the log no longer matches, 2 on usage errors', async () => {
    const r = await cli(['audit', 'proof', '--log', log.logDir, '--from', note(log, 20), '--to', note(log, 6)]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /FAIL seq \d+: .*rollback/);
    const bad = join(dir, 'bad.note');
    writeFileSync(bad, readFileSync(note(log, 13), 'utf8').replace(/\n(\d+)\n/, '\n14\n'));
    const s = await cli(['audit', 'proof', '--log', log.logDir, '--from', note(log, 6), '--to', bad, '--key', log.pub]);
    assert.equal(s.code, 1, s.stderr + s.stdout);
    // A key of another log, and a log whose chain is broken, are integrity failures like in verify.
    const other = await buildLog(join(dir, 'globex-proof'), { tenant: 'globex' });
    const k = await cli(['audit', 'proof', '--log', log.logDir, '--seq', '1', '--key', other.pub]);
    assert.equal(k.code, 1, k.stderr + k.stdout);
    assert.match(k.stdout, /^FAIL seq 0: checkpoint 0+20\.note: no trusted key is named after the log origin "portcullis\/acme"/m);
    const t = await cli(['audit', 'proof', '--log', tampered.logDir, '--seq', '1']);
    assert.equal(t.code, 1, t.stderr + t.stdout);
    assert.match(t.stdout, /^FAIL seq 8: record at seq 8 is out of order or off the chain/m);
    const tc = await cli(['audit', 'proof', '--log', tampered.logDir, '--from', note(tampered, 6), '--to', note(tampered, 13)]);
    assert.equal(tc.code, 1, tc.stderr + tc.stdout);
    for (const args of [
      ['audit', 'proof', '--log', log.logDir],
      ['audit', 'proof', '--log', log.logDir, '--seq', '20'],
      ['audit', 'proof', '--log', log.logDir, '--seq', 'x'],
      ['audit', 'proof', '--log', log.logDir, '--seq', '1', '--from', note(log, 6), '--to', note(log, 13)],
    ]) {
      const u = await cli(args);
      assert.equal(u.code, 2, `${args.join(' ')}: ${u.stdout}${u.stderr}`);
    }
  });
});
