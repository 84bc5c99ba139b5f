/**
 * The audit writer (security-checklist I1/I2/I9, docs/audit.md): group commit, the prev chain
 * and contiguous seq, checkpoint cadence and signatures, fail-closed on write errors with
 * self-healing, canonical JSON, and the directory witness.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { AuditService } from '../../../src/audit/service.js';
import { canonical, canonicalReference } from '../../../src/audit/canonical.js';
import { leafOf } from '../../../src/audit/recovery.js';
import { consistencyProof, rootFromLeaves, CompactRange, verifyConsistency } from '../../../src/audit/merkle.js';
import { parseCheckpoint, parseVerifierKey, signCheckpoint, verifyCheckpoint } from '../../../src/audit/checkpoint.js';
import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadOrCreateSigner } from '../../../src/audit/keys.js';
import { DirectoryWitness, WitnessRefused } from '../../../src/audit/witness.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { verifyLog } from '../../../src/audit/verify.js';
import { auditCfg, CountingIo, records, segmentLines, tempDir } from './writer-helpers.js';

const dirs: string[] = [];
const newDir = (): string => {
  const d = tempDir();
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('audit writer', () => {
  it('group commit: 300 concurrent durable appends share a few writes and fdatasyncs (I1)', async () => {
    const dir = newDir();
    const io = new CountingIo();
    const svc = new AuditService(auditCfg(dir, { groupCommit: '5ms' }), silentLogger, { io });
    svc.open();
    const w = svc.tenantLog('acme')!;
    const syncsBefore = io.syncs;
    const seqs = await Promise.all(Array.from({ length: 300 }, (_, i) => w.append('tool.call.decision', { call: `c${i}` }, true)));
    const syncs = io.syncs - syncsBefore;
    assert.ok(syncs >= 1 && syncs <= 30, `300 appends took ${syncs} fdatasyncs`);
    assert.deepEqual([...seqs].sort((a, b) => a - b), Array.from({ length: 300 }, (_, i) => i));
    await svc.close();
    const recs = records(dir, 't-acme');
    const lines = segmentLines(dir, 't-acme');
    recs.forEach((r, i) => {
      assert.equal(r.seq, i);
      assert.equal(r.log, 'portcullis/acme');
      assert.equal(r.v, 1);
      assert.equal(r.prev, i === 0 ? '' : leafOf(lines[i - 1]!).toString('hex'));
      // Each line is exactly its canonical form: what is hashed is what is written.
      assert.equal(lines[i], canonical(JSON.parse(lines[i]!)));
    });
  });

  it('checkpoints: signed by the log key, root matches the records, every ≤1000 records and ≤1 s (I9)', async () => {
    const dir = newDir();
    const svc = new AuditService(auditCfg(dir, { checkpointRecords: 100, groupCommit: '1ms' }), silentLogger);
    svc.open();
    const w = svc.tenantLog('acme')!;
    for (let i = 0; i < 450; i++) await w.append('tool.call.decision', { call: `c${i}` }, i % 10 === 0 ? true : false);
    await svc.drain();
    // The record trigger fired without waiting for the interval.
    assert.ok(w.stats.checkpoints >= 3, `checkpoints: ${w.stats.checkpoints}`);
    // Then idle: the interval covers the tail (bounded wait, no timing assertion).
    const end = Date.now() + 5000;
    while (w.stats.lastCheckpointSize < w.stats.durable - 1 && Date.now() < end) await sleep(50);
    assert.ok(w.stats.lastCheckpointSize >= w.stats.durable - 1, 'the tail was checkpointed by the interval');
    await svc.close();
    const key = parseVerifierKey(readFileSync(join(dir, 'keys', 't-acme.pub'), 'utf8'));
    const leaves = segmentLines(dir, 't-acme').map((l) => leafOf(l));
    const notes = readdirSync(join(dir, 'logs', 't-acme', 'checkpoints')).filter((n) => n.endsWith('.note'));
    assert.ok(notes.length >= 4);
    for (const n of notes) {
      const cp = verifyCheckpoint(readFileSync(join(dir, 'logs', 't-acme', 'checkpoints', n)), [key]);
      assert.equal(cp.origin, 'portcullis/acme');
      assert.ok(rootFromLeaves(leaves.slice(0, cp.size)).equals(cp.root), `root of checkpoint ${cp.size}`);
    }
    // An audit.checkpoint record notes each one.
    assert.ok(records(dir, 't-acme').filter((r) => r.type === 'audit.checkpoint').length >= notes.length - 1);
    // Another log's key does not verify this log's checkpoints (I10).
    svc.tenantLog('beta');
    const other = new AuditService(auditCfg(dir), silentLogger);
    other.open();
    other.tenantLog('beta');
    await other.close();
    const betaKey = parseVerifierKey(readFileSync(join(dir, 'keys', 't-beta.pub'), 'utf8'));
    assert.throws(() => verifyCheckpoint(readFileSync(join(dir, 'logs', 't-acme', 'checkpoints', notes[0]!)), [betaKey]));
  });

  it('write failure (EIO, torn write): durable appends fail, health degraded; then heals with no duplicate (I5)', async () => {
    const dir = newDir();
    const io = new CountingIo();
    const svc = new AuditService(auditCfg(dir, { groupCommit: '1ms' }), silentLogger, { io });
    svc.open();
    const w = svc.tenantLog('acme')!;
    await w.append('tool.call.decision', { call: 'ok-1' }, true);
    io.fail = 'EIO';
    await assert.rejects(w.append('tool.call.decision', { call: 'fail-1' }, true), /EIO/);
    assert.match(svc.unavailable('acme') ?? '', /EIO/);
    assert.equal(svc.health().status, 'degraded');
    await assert.rejects(w.append('tool.call.decision', { call: 'fail-2' }, true), /EIO/);
    await w.drain(); // returns on a failing disk instead of hanging (shutdown must not block)
    io.fail = undefined;
    await w.append('tool.call.decision', { call: 'ok-2' }, true);
    assert.equal(svc.unavailable('acme'), undefined);
    assert.equal(svc.health().status, 'ok');
    await svc.close();
    const recs = records(dir, 't-acme').filter((r) => r.type === 'tool.call.decision');
    assert.deepEqual(recs.map((r) => r.call), ['ok-1', 'fail-1', 'fail-2', 'ok-2']);
    const all = records(dir, 't-acme');
    all.forEach((r, i) => assert.equal(r.seq, i));
  });

  it('closing on a dead disk says which sequenced records were never written', async () => {
    const dir = newDir();
    const io = new CountingIo();
    const errors: { msg: string; o: Record<string, unknown> }[] = [];
    const log = { ...silentLogger, error: (o: Record<string, unknown>, msg: string) => void errors.push({ msg, o }) } as unknown as typeof silentLogger;
    const svc = new AuditService(auditCfg(dir, { groupCommit: '1ms' }), log, { io });
    svc.open();
    const w = svc.tenantLog('acme')!;
    await w.append('authn.failure', { n: 0 }, true);
    io.fail = 'EIO';
    for (let i = 1; i <= 5; i++) w.append('authn.failure', { n: i }, false);
    await w.drain();
    await svc.close();
    const lost = errors.find((e) => e.msg === 'audit.records_lost_at_close');
    assert.ok(lost, JSON.stringify(errors));
    assert.equal(lost.o.log, 't-acme');
    assert.ok((lost.o.records as number) >= 5);
    assert.equal(lost.o.toSeq, (lost.o.fromSeq as number) + (lost.o.records as number) - 1);
  });

  it('canonical() equals the canonicalize package (RFC 8785) on arbitrary JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const want = canonicalReference(v);
        assert.equal(canonical(v), want);
        // Already-sorted values take the JSON.stringify fast path.
        assert.equal(canonical(JSON.parse(want)), want);
      }),
      { numRuns: 500 },
    );
    assert.equal(canonical({ b: 1, a: [1e21, 1e-7, -0, 'x\u2028\n'], c: { 'é': true, e: null } }), canonicalReference({ b: 1, a: [1e21, 1e-7, -0, 'x\u2028\n'], c: { 'é': true, e: null } }));
    assert.throws(() => canonical({ a: undefined, b: () => 1 }));
    assert.throws(() => canonical(Number.NaN));
    assert.throws(() => canonical('\ud800'));
    assert.equal(canonical({ 9: 1, 10: 2, a: [{ b: 1, a: 2 }] }), '{"10":2,"9":1,"a":[{"a":2,"b":1}]}');
  });
});

describe('http witness', () => {
  it('POSTs each checkpoint with a consistency proof; a non-2xx answer is retried with backoff', async () => {
    const dir = newDir();
    const got: { log: string; checkpoint: string; from: number; proof: string[] }[] = [];
    let refuse = 1;
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        if (refuse > 0) {
          refuse -= 1;
          res.writeHead(500).end();
          return;
        }
        got.push(JSON.parse(body) as (typeof got)[number]);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/witness`;
    const svc = new AuditService(auditCfg(dir, { checkpointRecords: 10, groupCommit: '1ms', witnesses: [{ kind: 'http', url }] }), silentLogger);
    try {
      svc.open();
      const w = svc.tenantLog('acme')!;
      for (let i = 0; i < 12; i++) await w.append('tool.call.decision', { call: `a${i}` }, true);
      const end = Date.now() + 8000;
      while (got.length < 1 && Date.now() < end) await sleep(50);
      assert.ok(got.length >= 1, 'the refused checkpoint was retried and accepted');
      for (let i = 0; i < 12; i++) await w.append('tool.call.decision', { call: `b${i}` }, true);
      const end2 = Date.now() + 8000;
      while (!got.some((g) => g.from > 0) && Date.now() < end2) await sleep(50);
      const second = got.find((g) => g.from > 0);
      assert.ok(second, 'a later checkpoint came with a proof from the acknowledged size');
      const first = got.find((g) => g.from === 0)!;
      const cp1 = parseCheckpoint(first.checkpoint);
      const cp2 = parseCheckpoint(second.checkpoint);
      assert.equal(second.from, cp1.size);
      verifyConsistency(cp1.size, cp2.size, second.proof.map((p) => Buffer.from(p, 'base64')), cp1.root, cp2.root);
    } finally {
      await svc.close();
      server.close();
    }
  });
});

describe('key rotation', () => {
  it('audit.key_rotated; the first checkpoint after it is signed by both keys, later ones by the new key only', async () => {
    const dir = newDir();
    const svc = new AuditService(auditCfg(dir, { checkpointRecords: 5, groupCommit: '1ms' }), silentLogger);
    svc.open();
    const w = svc.tenantLog('acme')!;
    for (let i = 0; i < 6; i++) await w.append('tool.call.decision', { call: `a${i}` }, true);
    const keys = await w.rotateKeyDurably();
    for (let i = 0; i < 12; i++) await w.append('tool.call.decision', { call: `b${i}` }, true);
    await svc.close();
    const rotated = records(dir, 't-acme').find((r) => r.type === 'audit.key_rotated')!;
    assert.equal(rotated.old_key, keys.old);
    assert.equal(readFileSync(join(dir, 'keys', 't-acme.pub'), 'utf8').trim(), keys.new);
    const cpDir = join(dir, 'logs', 't-acme', 'checkpoints');
    const after = readdirSync(cpDir).sort().map((n) => readFileSync(join(cpDir, n), 'utf8')).filter((t) => Number(t.split('\n')[1]) > rotated.seq);
    assert.ok(after.length >= 2);
    const sigs = (t: string): number => t.split('\n').filter((l) => l.startsWith('\u2014 ')).length;
    assert.equal(sigs(after[0]!), 2);
    verifyCheckpoint(after[0]!, [parseVerifierKey(keys.old)]);
    verifyCheckpoint(after[0]!, [parseVerifierKey(keys.new)]);
    assert.equal(sigs(after[after.length - 1]!), 1);
    assert.throws(() => verifyCheckpoint(after[after.length - 1]!, [parseVerifierKey(keys.old)]));
  });
});

/** A service whose tenant log `acme` signs checkpoints only when asked (no interval, no record count). */
function checkpointsOnRequest(): { dir: string; svc: AuditService; w: NonNullable<ReturnType<AuditService['tenantLog']>> } {
  const dir = newDir();
  const svc = new AuditService(auditCfg(dir, { checkpointRecords: 1_000_000, checkpointInterval: '1h', groupCommit: '1ms' }), silentLogger);
  svc.open();
  return { dir, svc, w: svc.tenantLog('acme')! };
}

describe('key rotation, crash-safe order', () => {
  it('a rotation that cannot write its dual-signed checkpoint keeps the old key; one that can changes the key files only after it', async () => {
    const { dir, svc, w } = checkpointsOnRequest();
    for (let i = 0; i < 3; i++) await w.append('policy.changed', { source: 'store', n: i }, true);
    const keyFile = join(dir, 'keys', 't-acme.key');
    const oldKey = readFileSync(keyFile, 'utf8');
    const oldPub = readFileSync(join(dir, 'keys', 't-acme.pub'), 'utf8').trim();
    const cpDir = join(dir, 'logs', 't-acme', 'checkpoints');
    // No checkpoint can be written: a file where the directory was.
    rmSync(cpDir, { recursive: true, force: true });
    writeFileSync(cpDir, 'not a directory');
    await assert.rejects(w.rotateKeyDurably(), /no checkpoint covering the rotation/);
    assert.equal(readFileSync(keyFile, 'utf8'), oldKey, 'the key files did not change');
    assert.deepEqual(readdirSync(join(dir, 'keys')).filter((n) => n.includes('retired')), []);
    rmSync(cpDir, { force: true });
    mkdirSync(cpDir);
    await w.append('policy.changed', { source: 'store', n: 'b' }, true);
    w.checkpoint();
    await w.drain();
    const notes = (): string[] => readdirSync(cpDir).sort().map((n) => readFileSync(join(cpDir, n), 'utf8'));
    const sigs = (t: string): number => t.split('\n').filter((l) => l.startsWith('\u2014 ')).length;
    assert.equal(sigs(notes().at(-1)!), 1);
    verifyCheckpoint(notes().at(-1)!, [parseVerifierKey(oldPub)]);

    const keys = await w.rotateKeyDurably();
    assert.equal(keys.old, oldPub);
    assert.equal(readFileSync(join(dir, 'keys', 't-acme.pub'), 'utf8').trim(), keys.new);
    assert.equal(readdirSync(join(dir, 'keys')).filter((n) => n.endsWith('.key.retired')).length, 1);
    // When the call returned, the covering checkpoint signed by both keys was already on disk.
    const rotated = records(dir, 't-acme').filter((r) => r.type === 'audit.key_rotated').at(-1)!;
    const covering = notes().filter((t) => Number(t.split('\n')[1]) > rotated.seq);
    assert.equal(covering.length, 1);
    assert.equal(sigs(covering[0]!), 2);
    await w.append('policy.changed', { source: 'store', n: 'c' }, true);
    await svc.close();
    assert.equal(sigs(notes().at(-1)!), 1);
    verifyCheckpoint(notes().at(-1)!, [parseVerifierKey(keys.new)]);
    // The whole log verifies from the new key alone, the failed rotation's record included.
    const rep = verifyLog({ logDir: join(dir, 'logs', 't-acme'), keys: [parseVerifierKey(keys.new)] });
    assert.equal(rep.ok, true, JSON.stringify(rep.failure));
  });
});

describe('checkpoint writes', () => {
  it('run off the event loop (drain waits for them); a key rotated meanwhile still gets a checkpoint signed by both keys', async () => {
    const { dir, svc, w } = checkpointsOnRequest();
    for (let i = 0; i < 6; i++) await w.append('tool.call.decision', { call: `a${i}` }, true);
    const note = join(dir, 'logs', 't-acme', 'checkpoints', `${String(w.nextSeq).padStart(20, '0')}.note`);
    w.checkpoint();
    assert.equal(existsSync(note), false, 'checkpoint() returned before its file was written');
    const keys = w.rotateKey({ name: 'portcullis/acme', ...generateKeyPairSync('ed25519') });
    await w.drain();
    assert.equal(existsSync(note), true);
    for (let i = 0; i < 3; i++) await w.append('tool.call.decision', { call: `b${i}` }, true);
    w.checkpoint();
    await w.drain();
    await svc.close();
    const rotated = records(dir, 't-acme').find((r) => r.type === 'audit.key_rotated')!;
    const cpDir = join(dir, 'logs', 't-acme', 'checkpoints');
    const after = readdirSync(cpDir).sort().map((n) => readFileSync(join(cpDir, n), 'utf8')).filter((t) => Number(t.split('\n')[1]) > rotated.seq);
    assert.ok(after.length >= 1);
    verifyCheckpoint(after[0]!, [parseVerifierKey(keys.old)]);
    verifyCheckpoint(after[0]!, [parseVerifierKey(keys.new)]);
  });
});

describe('directory witness', () => {
  it('accepts consistent growth and refuses a smaller, forked or inconsistent checkpoint (I9)', async () => {
    const dir = newDir();
    const wdir = join(dir, 'witness');
    const svc = new AuditService(auditCfg(join(dir, 'audit'), { checkpointRecords: 10, groupCommit: '1ms', witnesses: [{ kind: 'directory', path: wdir }] }), silentLogger);
    svc.open();
    const w = svc.tenantLog('acme')!;
    for (let i = 0; i < 35; i++) await w.append('tool.call.decision', { call: `c${i}` }, true);
    await svc.close();
    const witness = new DirectoryWitness('w', wdir);
    const held = await witness.latest('t-acme');
    assert.ok(held && held.size >= 30, `witness holds ${held?.size}`);
    const cpDir = join(dir, 'audit', 'logs', 't-acme', 'checkpoints');
    const sizes = readdirSync(cpDir).map((n) => Number(n.slice(0, 20))).sort((a, b) => a - b);
    const smaller = readFileSync(join(cpDir, `${String(sizes[0]).padStart(20, '0')}.note`), 'utf8');
    await assert.rejects(witness.accept('t-acme', smaller, held.size, []), (e: unknown) => e instanceof WitnessRefused && e.held === held.size);

    // A forged log of a larger size signed with another key: inconsistent with what it holds.
    const forged = new AuditService(auditCfg(join(dir, 'forged'), { checkpointRecords: 1000 }), silentLogger);
    forged.open();
    const fw = forged.tenantLog('acme')!;
    for (let i = 0; i < held.size + 5; i++) fw.append('tool.call.decision', { call: `forged${i}` }, false);
    await forged.close();
    const fdir = join(dir, 'forged', 'logs', 't-acme', 'checkpoints');
    const fnote = readdirSync(fdir).sort().pop()!;
    const ftext = readFileSync(join(fdir, fnote), 'utf8');
    const fleaves = segmentLines(join(dir, 'forged'), 't-acme').map((l) => leafOf(l));
    const fsize = Number(fnote.slice(0, 20));
    await assert.rejects(witness.accept('t-acme', ftext, held.size, consistencyProof(fleaves, held.size, fsize)), WitnessRefused);
    // A fork: same size, other root.
    const cr = new CompactRange();
    for (const l of fleaves.slice(0, held.size)) cr.append(l);
    assert.ok(!cr.root().equals(held.root));
    const forkNote = signCheckpoint({ origin: 'portcullis/acme', size: held.size, root: cr.root() }, loadOrCreateSigner(join(dir, 'forged'), 't-acme', 'portcullis/acme'));
    await assert.rejects(witness.accept('t-acme', forkNote, held.size, []), (e: unknown) => e instanceof WitnessRefused && /fork/.test(e.message));
    assert.equal((await witness.latest('t-acme'))?.size, held.size, 'refusals change nothing');
  });
});
