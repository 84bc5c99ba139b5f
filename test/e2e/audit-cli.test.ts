/** `portcullis audit verify|proof` end to end: the CLI runs as a child process from source; exit codes (0/1/2) and output are its interface. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { verifyConsistency, verifyInclusion } from '../../src/audit/merkle.js';
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
    assert.match(r.stdout, /^ok: log portcullis\/acme: 21 records \(seq 0\.\.20\), 3 checkpoints/m);
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
