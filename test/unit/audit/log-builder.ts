/**
 * Builds audit logs for the verifier's tests with the REAL writer (src/audit/writer.ts
 * `LogWriter`, keys.ts, a directory witness), with checkpoints at sizes the test controls, plus
 * the line-level helpers the tamper tests use to damage them.
 */
import { compileRetention } from '../../../src/audit/retention.js';
import { cpSync, readFileSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { verifierKey } from '../../../src/audit/checkpoint.js';
import { canonical } from '../../../src/audit/canonical.js';
import type { CompiledAudit } from '../../../src/audit/config.js';
import { loadOrCreateSigner, type Signer } from '../../../src/audit/keys.js';
import { leafHash } from '../../../src/audit/merkle.js';
import { nodeIo } from '../../../src/audit/segment.js';
import { DirectoryWitness } from '../../../src/audit/witness.js';
import { LogWriter } from '../../../src/audit/writer.js';
import { silentLogger } from '../../../src/observability/logger.js';

/** A log on disk and what a verifier needs to check it. */
export interface BuiltLog {
  auditDir: string;
  logDir: string;
  logId: string;
  origin: string;
  /** The log's verifier key string (what `--key` takes). */
  pub: string;
  /** Path of `keys/<logId>.pub`. */
  pubFile: string;
  signer: Signer;
  /** The directory witness's copy of the newest checkpoint. */
  witnessNote: string;
  /** Sizes of the signed checkpoints, ascending. */
  checkpoints: number[];
  /** The key signing now, when it was rotated (`pub` stays the first key). */
  rotatedPub?: string;
}

export interface BuildOptions {
  tenant?: string;
  /** Decision/result pairs per batch; a checkpoint is signed after each batch. */
  batches?: number[];
  /** Small segments, so the log spans several files. */
  segmentBytes?: number;
  /** Add one decision without an outcome to this batch (0-based). */
  openDecisionInBatch?: number;
  /** After closing, append (like a crash would leave) one unsigned decision without outcome. */
  tailDecision?: boolean;
  /** Rotate to a fresh key after this batch's checkpoint (LogWriter.rotateKey). */
  rotateAfterBatch?: number;
}

function config(auditDir: string, segmentBytes: number): CompiledAudit {
  return {
    enabled: true,
    dir: auditDir,
    origin: 'portcullis',
    checkpointIntervalMs: 3_600_000,
    checkpointRecords: 1_000_000,
    groupCommitMs: 0,
    groupCommitRecords: 512,
    segmentBytes,
    segmentAgeMs: 3_600_000,
    retryAfterMs: 1000,
    witnesses: [],
    witnessService: { enabled: false, dir: join(auditDir, 'witness'), trustedKeys: [] },
    sinks: [],
    retention: compileRetention({ tenants: {}, interval: '1h' }),
    retentionTenants: [],
  };
}

/** Writes a log through LogWriter: batches of decision+result, a checkpoint after each. */
export async function buildLog(root: string, o: BuildOptions = {}): Promise<BuiltLog> {
  const tenant = o.tenant ?? 'acme';
  const auditDir = join(root, 'audit');
  const logId = `t-${tenant}`;
  const origin = `portcullis/${tenant}`;
  const witnessDir = join(root, 'witness');
  const w = LogWriter.open({
    auditDir,
    logId,
    origin,
    cfg: config(auditDir, o.segmentBytes ?? 1200),
    io: nodeIo,
    log: silentLogger,
    witnesses: [new DirectoryWitness('w', witnessDir)],
    onDurable: () => undefined,
  });
  const checkpoints: number[] = [];
  let rotatedPub: string | undefined;
  const batches = o.batches ?? [3, 3, 3];
  let n = 0;
  for (let b = 0; b < batches.length; b += 1) {
    for (let i = 0; i < (batches[b] as number); i += 1) {
      const call = `call-${b}-${i}`;
      await w.append('tool.call.decision', { call, actor: { sub: 'alice', tenant }, target: { upstream: 'git', tool: `tool${n}` }, decision: { result: 'allow', rules: ['r1'] } }, true);
      await w.append('tool.call.result', { call, result: { bytes: 10 + n, hmac_sha256: 'ab'.repeat(32), is_error: false } }, true);
      n += 1;
    }
    if (o.openDecisionInBatch === b) await w.append('tool.call.decision', { call: `open-${b}`, decision: { result: 'allow' } }, true);
    await w.drain();
    const before = w.nextSeq;
    w.checkpoint();
    await w.drain();
    if (w.nextSeq > before) checkpoints.push(before);
    if (o.rotateAfterBatch === b) {
      const { privateKey, publicKey } = generateKeyPairSync('ed25519');
      rotatedPub = verifierKey(origin, publicKey);
      w.rotateKey({ name: origin, privateKey, publicKey });
    }
  }
  await w.close();
  const logDir = join(auditDir, 'logs', logId);
  if (o.tailDecision) {
    const recs = readRecords(logDir);
    const last = recs[recs.length - 1]!;
    appendRecord(logDir, { v: 1, log: origin, seq: last.seq + 1, ts: new Date().toISOString(), type: 'tool.call.decision', call: 'tail-call', decision: { result: 'allow' }, prev: leafHash(Buffer.from(last.line)).toString('hex') });
  }
  const signer = loadOrCreateSigner(auditDir, logId, origin);
  const pubFile = join(auditDir, 'keys', `${logId}.pub`);
  return { auditDir, logDir, logId, origin, pub: readFileSync(pubFile, 'utf8').trim(), pubFile, signer, witnessNote: join(witnessDir, `${logId}.note`), checkpoints, ...(rotatedPub ? { rotatedPub } : {}) };
}

/** One record line as on disk. */
export interface Line {
  seq: number;
  line: string;
  segment: string;
}

/** Segment file names of a log, in order. */
export function segmentFiles(logDir: string): string[] {
  return readdirSync(logDir).filter((f) => /^seg-\d{20}\.jsonl$/.test(f)).sort();
}

/** Every record line of a log, with the segment that holds it. */
export function readRecords(logDir: string): Line[] {
  const out: Line[] = [];
  for (const segment of segmentFiles(logDir)) {
    for (const line of readFileSync(join(logDir, segment), 'utf8').split('\n')) {
      if (line.length === 0) continue;
      out.push({ seq: (JSON.parse(line) as { seq: number }).seq, line, segment });
    }
  }
  return out;
}

/** Rewrites the segments from `lines` (each line goes back to the segment it names; emptied segments are removed). */
export function writeRecords(logDir: string, lines: readonly Line[]): void {
  const bySeg = new Map<string, string[]>();
  for (const s of segmentFiles(logDir)) bySeg.set(s, []);
  for (const l of lines) {
    const list = bySeg.get(l.segment) ?? [];
    list.push(l.line);
    bySeg.set(l.segment, list);
  }
  // A segment left without records goes, as it would when a forger truncates the tail.
  for (const [seg, ls] of bySeg) {
    if (ls.length === 0) unlinkSync(join(logDir, seg));
    else writeFileSync(join(logDir, seg), ls.map((l) => `${l}\n`).join(''));
  }
}

/** Appends one record object (canonicalised) to the last segment. */
export function appendRecord(logDir: string, rec: Record<string, unknown>): void {
  const segs = segmentFiles(logDir);
  const last = join(logDir, segs[segs.length - 1]!);
  writeFileSync(last, `${readFileSync(last, 'utf8')}${canonical(rec)}\n`);
}

/** Recomputes every `prev` from index `from` on, as a forger holding no key would. */
export function rechain(lines: Line[], from: number): Line[] {
  const out = lines.map((l) => ({ ...l }));
  for (let i = Math.max(1, from); i < out.length; i += 1) {
    const rec = JSON.parse(out[i]!.line) as Record<string, unknown>;
    rec.prev = leafHash(Buffer.from(out[i - 1]!.line)).toString('hex');
    out[i]!.line = canonical(rec);
  }
  return out;
}

/** A fresh copy of a built log under `dest` (tests damage copies, never the original). */
export function copyLog(log: BuiltLog, dest: string): BuiltLog {
  cpSync(join(log.auditDir, '..'), dest, { recursive: true });
  const rebase = (p: string) => join(dest, p.slice(join(log.auditDir, '..').length));
  return { ...log, auditDir: rebase(log.auditDir), logDir: rebase(log.logDir), pubFile: rebase(log.pubFile), witnessNote: rebase(log.witnessNote) };
}
