/**
 * Offline verification of one audit log directory (`<audit dir>/logs/<logId>`) and the proofs the
 * `portcullis audit proof` command prints. Deliberately independent of the writer's code: it
 * reads the on-disk format (docs/audit.md) with its own parser, so a writer bug cannot hide
 * itself from the verifier.
 *
 * `verifyLog` runs the checks of security checklist §3.6 and reports the *first bad seq*:
 *  1. every line is JSON in JCS canonical form (re-canonicalised with `canonicalize`), `v` 1 and
 *     the right `log` origin;  2. `seq` contiguous from 0 (or from a retention cut) across
 *  segments;  3. the `prev` chain;  4. the root at each checkpoint size equals its root;
 *  5. signatures (≥ 1 trusted key named after the origin; a failing trusted key rejects; records
 *     need ≥ 1 such checkpoint that they reproduce — only the tail after it may be unsigned);
 *  6. checkpoint order (file name = size; `audit.checkpoint` records never decrease and match
 *     the notes; two roots for one size = fork);  7. external (witnessed) checkpoints;
 *  8. every decision has an outcome or `tool.call.outcome_unknown` (the unsigned tail is pending).
 *
 * Precision: a rewrite that keeps the chain valid is only visible through a signed root, so it
 * is reported as the first seq after the last checkpoint that still verifies (with the range).
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import canonicalize from 'canonicalize';
import { CheckpointError, MAX_NOTE_BYTES, parseCheckpoint, parseVerifierKey, readFileBounded, verifyCheckpoint, type VerifierKey } from './checkpoint.js';
import { CompactRange, HASH_SIZE, consistencyProof, inclusionProof, leafHash, rootFromLeaves, verifyConsistency, verifyInclusion, type CompactRangeState } from './merkle.js';

/** What went wrong, named by check. */
export type VerifyCheck =
  | 'canonical' | 'origin' | 'segment' | 'seq' | 'prev' | 'root' | 'signature' | 'checkpoint' | 'rollback' | 'fork' | 'truncation' | 'witness' | 'outcome' | 'retention';

/** The first integrity failure: `seq` is the first record that cannot be vouched for. */
export interface VerifyFailure {
  seq: number;
  check: VerifyCheck;
  reason: string;
}

/** The outcome of `verifyLog`. */
export interface VerifyReport {
  ok: boolean;
  origin: string | null;
  /** First seq on disk (> 0 after a retention cut). */
  firstSeq: number;
  /** Number of records (next seq). */
  size: number;
  /** Checkpoint notes verified. */
  checkpoints: number;
  latestCheckpoint: { size: number; root: string } | null;
  /** External checkpoints that were checked. */
  witnessed: { source: string; size: number }[];
  /** Records after the latest verified checkpoint (not yet signed). */
  unsignedTail: number;
  /** Decisions in the unsigned tail that have no outcome yet. */
  pending: { seq: number; call: string }[];
  /** Bytes of a torn, unterminated final line (a write in progress or a crash; not a record). */
  tornBytes: number;
  failure?: VerifyFailure;
}

/** Bad usage or unreadable input (exit 2), as opposed to an integrity failure (exit 1). */
export class VerifyUsageError extends Error {
  override readonly name = 'VerifyUsageError';
}

/** Options of `verifyLog`. */
export interface VerifyOptions {
  /** The log directory: `<audit dir>/logs/<logId>`. */
  logDir: string;
  /** Trusted verifier keys; only keys named after the log's origin vouch for it. */
  keys: readonly VerifierKey[];
  /** Checkpoints from outside (a witness): `source` is for messages. */
  external?: readonly { source: string; text: string | Buffer }[];
  /** Expected origin; default: the `log` field of the first record (or of the checkpoints). */
  origin?: string;
}

const SEGMENT = /^seg-(\d{20})\.jsonl$/;
const NOTE = /^(\d{20})\.note$/;
const MAX_NOTES = 1_000_000;
const OUTCOMES = new Set(['tool.call.result', 'tool.call.error', 'tool.call.timeout', 'tool.call.cancelled', 'tool.call.outcome_unknown']);
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function readDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new VerifyUsageError(`cannot read ${dir}: ${(e as Error).message}`);
  }
}

/** Largest segment read (Node's largest single read); the writer rotates at 64 MiB by default. */
const MAX_SEGMENT_BYTES = 2 ** 31 - 2;
/** retention.json: a frontier of ≤ 64 hashes plus one note. */
const MAX_RETENTION_BYTES = MAX_NOTE_BYTES + 64 * 1024;

/** A regular file of at most `limit` bytes (limit + 1 bytes when larger: the caller decides). */
function readFile(path: string, limit: number): Buffer {
  try {
    return readFileBounded(path, limit);
  } catch (e) {
    throw new VerifyUsageError(`cannot read ${path}: ${(e as Error).message}`);
  }
}

function readSegment(path: string): Buffer {
  const buf = readFile(path, MAX_SEGMENT_BYTES);
  if (buf.length > MAX_SEGMENT_BYTES) throw new VerifyUsageError(`cannot read ${path}: larger than ${MAX_SEGMENT_BYTES} bytes`);
  return buf;
}

/** Segments of a log directory, ordered by first seq. */
export function listSegmentFiles(dir: string): { firstSeq: number; name: string; path: string }[] {
  return readDir(dir)
    .map((n) => SEGMENT.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ firstSeq: Number(m[1]), name: m[0], path: join(dir, m[0]) }))
    .sort((a, b) => a.firstSeq - b.firstSeq);
}

interface NoteFile {
  file: string;
  nameSize: number | undefined;
  text: Buffer;
}

function readNotes(dir: string): NoteFile[] {
  const cpDir = join(dir, 'checkpoints');
  const names = readDir(cpDir).filter((n) => n.endsWith('.note') && !n.startsWith('.'));
  if (names.length > MAX_NOTES) throw new VerifyUsageError(`more than ${MAX_NOTES} checkpoint files`);
  return names.sort().map((file) => {
    const m = NOTE.exec(file);
    // An oversized note is read only up to the bound: parsing then refuses it ("note is too large").
    return { file, nameSize: m ? Number(m[1]) : undefined, text: readFile(join(cpDir, file), MAX_NOTE_BYTES) };
  });
}

interface RetentionCut {
  firstSeq: number;
  prev: string;
  frontier: CompactRangeState;
  checkpoint: string;
}

/** A damaged retention.json: an integrity failure at `firstSeq` (when it can be read from it). */
interface RetentionProblem {
  problem: string;
  firstSeq?: number;
}

/** The reason a frontier cannot be a compact range, or undefined when it is one. */
function frontierProblem(f: unknown): string | undefined {
  if (typeof f !== 'object' || f === null || Array.isArray(f)) return 'frontier is not an object';
  const { size, hashes } = f as { size?: unknown; hashes?: unknown };
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) return 'frontier size is not a non-negative integer';
  let bits = 0;
  for (let n = size; n > 0; n = Math.floor(n / 2)) bits += n % 2;
  if (!Array.isArray(hashes) || hashes.length !== bits) return `frontier of size ${size} must hold ${bits} hashes`;
  for (const h of hashes as unknown[]) {
    if (typeof h !== 'string' || !/^[A-Za-z0-9+/]{43}=$/u.test(h) || Buffer.from(h, 'base64').length !== HASH_SIZE) return 'frontier hashes must be base64 SHA-256 hashes';
  }
  return undefined;
}

function readRetention(dir: string): RetentionCut | RetentionProblem | undefined {
  const path = join(dir, 'retention.json');
  let raw: Buffer;
  try {
    raw = readFileBounded(path, MAX_RETENTION_BYTES);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new VerifyUsageError(`cannot read ${path}: ${(e as Error).message}`);
  }
  if (raw.length > MAX_RETENTION_BYTES) return { problem: `retention.json is larger than ${MAX_RETENTION_BYTES} bytes` };
  let j: unknown;
  try {
    j = JSON.parse(utf8.decode(raw));
  } catch {
    return { problem: 'retention.json is not valid UTF-8 JSON' };
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) return { problem: 'retention.json is not a JSON object' };
  const { first_seq: firstSeq, prev, frontier, checkpoint } = j as { first_seq?: unknown; prev?: unknown; frontier?: unknown; checkpoint?: unknown };
  if (typeof firstSeq !== 'number' || !Number.isSafeInteger(firstSeq) || firstSeq < 0) return { problem: 'retention.json first_seq is not a non-negative integer' };
  const bad = (why: string): RetentionProblem => ({ problem: `retention.json ${why}`, firstSeq });
  if (typeof prev !== 'string' || !(firstSeq === 0 ? prev === '' : /^[0-9a-f]{64}$/u.test(prev))) return bad(`prev is not the hex leaf hash of record ${firstSeq - 1}`);
  if (typeof checkpoint !== 'string') return bad('checkpoint is not a signed note');
  const why = frontierProblem(frontier);
  if (why !== undefined) return bad(why);
  const state = frontier as CompactRangeState;
  if (state.size !== firstSeq) return bad(`frontier covers ${state.size} records, not ${firstSeq}`);
  return { firstSeq, prev, frontier: state, checkpoint };
}

/** Why `dir` holds no log, and where the logs are when it is an audit directory or its `logs/`. */
function noLogMessage(dir: string): string {
  const logsDir = join(dir, 'logs');
  const isDir = (p: string): boolean => {
    try {
      return statSync(p).isDirectory();
    } catch {
      return false;
    }
  };
  const parent = isDir(logsDir) ? logsDir : dir;
  const logs = readDir(parent)
    .slice(0, 1000)
    .filter((n) => isDir(join(parent, n)) && (listSegmentFiles(join(parent, n)).length > 0 || isDir(join(parent, n, 'checkpoints'))))
    .sort();
  const shown = logs.slice(0, 8).map((n) => join(parent, n));
  const hint = logs.length === 0 ? '' : `; log directories there: ${shown.join(', ')}${logs.length > shown.length ? `, … (${logs.length} in all)` : ''}`;
  return `no audit log in ${dir} (no seg-*.jsonl segments or checkpoints); --log takes one log directory, <audit dir>/logs/<logId>${hint}`;
}

interface Rec {
  v?: unknown;
  log?: unknown;
  seq?: unknown;
  prev?: unknown;
  type?: unknown;
  call?: unknown;
  size?: unknown;
  root?: unknown;
  old_key?: unknown;
  new_key?: unknown;
}

/**
 * Key rotation (`audit.key_rotated {old_key, new_key}`): the old key becomes trusted for this
 * log when the new key is trusted AND a checkpoint that covers the rotation record verifies with
 * the new key alone and matches the log. Without that anchor a forged rotation record in the
 * unsigned tail could smuggle in a key of the forger's choosing. Newest rotation first, so a
 * chain of rotations is followed back to the first key.
 */
function trustThroughRotations(
  keys: readonly VerifierKey[],
  rotations: readonly { seq: number; oldKey: unknown; newKey: unknown }[],
  notes: readonly NoteFile[],
  rootAt: ReadonlyMap<number, Buffer>,
  origin: string,
): VerifierKey[] {
  const trusted = [...keys];
  for (const r of [...rotations].reverse()) {
    if (typeof r.oldKey !== 'string' || typeof r.newKey !== 'string') continue;
    let newKey: VerifierKey;
    let oldKey: VerifierKey;
    try {
      newKey = parseVerifierKey(r.newKey);
      oldKey = parseVerifierKey(r.oldKey);
    } catch {
      continue;
    }
    const known = trusted.find((k) => k.text === newKey.text);
    if (!known || trusted.some((k) => k.text === oldKey.text)) continue;
    const anchored = notes.some((n) => {
      try {
        const cp = verifyCheckpoint(n.text, [known], { origin });
        const mine = rootAt.get(cp.size);
        return cp.size > r.seq && mine !== undefined && mine.equals(cp.root);
      } catch {
        return false;
      }
    });
    if (anchored) trusted.push(oldKey);
  }
  return trusted;
}

/** A root in an `audit.checkpoint` record: base64 (as the writer writes it) or hex. */
function decodeRoot(v: unknown): Buffer | undefined {
  if (typeof v !== 'string') return undefined;
  if (/^[0-9a-f]{64}$/u.test(v)) return Buffer.from(v, 'hex');
  const b = Buffer.from(v, 'base64');
  return b.length === 32 && b.toString('base64') === v ? b : undefined;
}

const checkOrder: VerifyCheck[] = ['canonical', 'origin', 'segment', 'seq', 'prev', 'root', 'signature', 'rollback', 'fork', 'truncation', 'checkpoint', 'witness', 'outcome', 'retention'];

/**
 * Verifies one log directory. Throws VerifyUsageError for I/O and usage problems only (a
 * directory with no segment and no checkpoint is one: it is not a log, so nothing was verified).
 */
export function verifyLog(opts: VerifyOptions): VerifyReport {
  const { logDir } = opts;
  let st;
  try {
    st = statSync(logDir);
  } catch (e) {
    throw new VerifyUsageError(`cannot read log directory ${logDir}: ${(e as Error).message}`);
  }
  if (!st.isDirectory()) throw new VerifyUsageError(`${logDir} is not a directory`);
  if (opts.keys.length === 0) throw new VerifyUsageError('at least one --key is needed');

  const segments = listSegmentFiles(logDir);
  const notes = readNotes(logDir);
  if (segments.length === 0 && notes.length === 0) throw new VerifyUsageError(noLogMessage(logDir));
  const retentionRead = readRetention(logDir);
  const retention = retentionRead && 'frontier' in retentionRead ? retentionRead : undefined;
  const retentionProblem = retentionRead && 'problem' in retentionRead ? retentionRead : undefined;
  const failures: VerifyFailure[] = [];
  const fail = (seq: number, check: VerifyCheck, reason: string): void => {
    failures.push({ seq, check, reason });
  };

  // Origin: explicit, else the first record's, else the first checkpoint's.
  let origin = opts.origin ?? null;
  const external = (opts.external ?? []).map((e) => {
    try {
      return { source: e.source, cp: parseCheckpoint(e.text), text: e.text };
    } catch (err) {
      throw new VerifyUsageError(`${e.source}: ${(err as Error).message}`);
    }
  });

  // --- 1–3: records, in order -------------------------------------------------------------
  // A damaged retention.json leaves no start for the tree: the chain is still checked, roots are not.
  const range = retention ? new CompactRange(retention.frontier) : new CompactRange();
  const firstSeq = retention?.firstSeq ?? retentionProblem?.firstSeq ?? (retentionProblem ? (segments[0]?.firstSeq ?? 0) : 0);
  if (retentionProblem) fail(firstSeq, 'retention', `${retentionProblem.problem}: the records before seq ${firstSeq} cannot be vouched for`);
  let pos = firstSeq;
  let prevHex: string | undefined = retentionProblem ? undefined : (retention?.prev ?? '');
  let tornBytes = 0;
  let lineFailure: VerifyFailure | undefined;
  let prevBreakAt: { p: number; segmentStart: boolean } | undefined;
  // Roots recomputed at every size something claims a root for.
  const wanted = new Set<number>();
  for (const n of notes) {
    if (n.nameSize !== undefined) wanted.add(n.nameSize);
    try {
      wanted.add(parseCheckpoint(n.text).size);
    } catch {}
  }
  for (const e of external) wanted.add(e.cp.size);
  if (retentionProblem) wanted.clear();
  if (retention) {
    try {
      wanted.add(parseCheckpoint(retention.checkpoint).size);
    } catch {}
  }
  const rootAt = new Map<number, Buffer>();
  if (wanted.has(pos)) rootAt.set(pos, range.root());
  const decisions = new Map<string, number>();
  const rotations: { seq: number; oldKey: unknown; newKey: unknown }[] = [];
  const cpRecords: { seq: number; size: number; root: Buffer | undefined }[] = [];

  scan: for (let si = 0; si < segments.length && !lineFailure; si += 1) {
    const seg = segments[si]!;
    const isLast = si === segments.length - 1;
    if (seg.firstSeq !== pos) {
      if (seg.firstSeq > pos) lineFailure = { seq: pos, check: 'segment', reason: `records ${pos}..${seg.firstSeq - 1} are missing: segment ${seg.name} starts at seq ${seg.firstSeq}` };
      else lineFailure = { seq: seg.firstSeq, check: 'segment', reason: `segment ${seg.name} starts at seq ${seg.firstSeq}, overlapping records already read (next seq ${pos})` };
      break;
    }
    const buf = readSegment(seg.path);
    let start = 0;
    while (start < buf.length) {
      const nl = buf.indexOf(0x0a, start);
      if (nl < 0) {
        if (isLast) {
          tornBytes = buf.length - start;
          break;
        }
        lineFailure = { seq: pos, check: 'canonical', reason: `segment ${seg.name} ends in an unterminated line` };
        break scan;
      }
      const line = buf.subarray(start, nl);
      const at = pos;
      let text: string;
      let rec: Rec;
      try {
        text = utf8.decode(line);
        rec = JSON.parse(text) as Rec;
      } catch {
        lineFailure = { seq: at, check: 'canonical', reason: `line ${at - seg.firstSeq + 1} of ${seg.name} is not valid UTF-8 JSON` };
        break scan;
      }
      if (typeof rec !== 'object' || rec === null || Array.isArray(rec) || canonicalize(rec) !== text) {
        lineFailure = { seq: at, check: 'canonical', reason: `record is not a JCS-canonical JSON object (line ${at - seg.firstSeq + 1} of ${seg.name})` };
        break scan;
      }
      if (origin === null && typeof rec.log === 'string') origin = rec.log;
      if (rec.v !== 1 || rec.log !== origin || typeof rec.type !== 'string') {
        lineFailure = { seq: at, check: 'origin', reason: rec.log !== origin ? `record belongs to log ${JSON.stringify(rec.log)}, not ${JSON.stringify(origin)}` : 'record lacks v:1 or a type' };
        break scan;
      }
      if (rec.seq !== at) {
        if (typeof rec.seq === 'number' && Number.isSafeInteger(rec.seq) && rec.seq < at && rec.seq >= firstSeq) {
          lineFailure = { seq: rec.seq, check: 'seq', reason: `seq ${rec.seq} appears again at position ${at} (inserted or duplicated record)` };
        } else {
          lineFailure = { seq: at, check: 'seq', reason: `expected seq ${at}, found ${JSON.stringify(rec.seq)} (deleted, reordered or renumbered record)` };
        }
        break scan;
      }
      if (prevHex !== undefined && rec.prev !== prevHex) {
        lineFailure = { seq: at, check: 'prev', reason: `prev of seq ${at} is not the leaf hash of seq ${at - 1}` };
        prevBreakAt = { p: at, segmentStart: at === seg.firstSeq };
        break scan;
      }
      const leaf = leafHash(line);
      range.append(leaf);
      prevHex = leaf.toString('hex');
      pos += 1;
      if (wanted.has(pos)) rootAt.set(pos, range.root());
      if (rec.type === 'tool.call.decision' && typeof rec.call === 'string') decisions.set(rec.call, at);
      else if (OUTCOMES.has(rec.type) && typeof rec.call === 'string') decisions.delete(rec.call);
      else if (rec.type === 'audit.checkpoint') cpRecords.push({ seq: at, size: typeof rec.size === 'number' ? rec.size : -1, root: decodeRoot(rec.root) });
      else if (rec.type === 'audit.key_rotated') rotations.push({ seq: at, oldKey: rec.old_key, newKey: rec.new_key });
      start = nl + 1;
    }
  }
  const size = pos;
  if (origin === null) {
    const first = notes[0] ?? external[0];
    try {
      if (first) origin = parseCheckpoint('text' in first ? first.text : '').origin;
    } catch {}
  }
  const originName = origin ?? '';
  const validRoots = new Map<number, Buffer>(); // size → root of a verified checkpoint
  const trusted = trustThroughRotations(opts.keys, rotations, notes, rootAt, originName);
  // Verifier keys are named after their log's origin (signed-note style): none named so, none vouches.
  if (origin !== null && !opts.keys.some((k) => k.name === origin)) {
    fail(firstSeq, 'signature', `no --key is named after this log's origin ${JSON.stringify(origin)} (the keys given are for ${[...new Set(opts.keys.map((k) => JSON.stringify(k.name)))].join(', ')})`);
  }

  // --- 4–6: local checkpoints, ascending by size --------------------------------------------
  const parsed: { file: string; nameSize: number | undefined; size: number; root: Buffer; ok: boolean }[] = [];
  let lastGood = firstSeq;
  const checkNote = (label: string, text: string | Buffer): { size: number; root: Buffer } | VerifyFailure => {
    try {
      return verifyCheckpoint(text, trusted, { origin: originName });
    } catch (e) {
      if (!(e instanceof CheckpointError)) throw e;
      const check: VerifyCheck = e.code === 'wrong-origin' ? 'origin' : e.code === 'malformed' ? 'checkpoint' : 'signature';
      let cpSize = -1;
      try {
        cpSize = parseCheckpoint(text).size;
      } catch {}
      return { seq: cpSize, check, reason: `${label}: ${e.message}` };
    }
  };
  const ordered = notes
    .map((n) => {
      let s: number | undefined;
      try {
        s = parseCheckpoint(n.text).size;
      } catch {}
      return { n, s: n.nameSize ?? s ?? Number.MAX_SAFE_INTEGER };
    })
    .sort((a, b) => a.s - b.s);
  for (const { n } of ordered) {
    const label = `checkpoint ${n.file}`;
    const r = checkNote(label, n.text);
    if ('check' in r) {
      fail(Math.min(lastGood, r.seq >= 0 ? r.seq : lastGood), r.check, r.reason);
      continue;
    }
    if (n.nameSize === undefined) {
      fail(lastGood, 'checkpoint', `${label}: file name is not <20-digit size>.note`);
      continue;
    }
    if (n.nameSize !== r.size) {
      const older = r.size < n.nameSize;
      fail(Math.min(lastGood, r.size), older ? 'rollback' : 'checkpoint', older ? `${label} holds an older checkpoint of size ${r.size} (rollback)` : `${label} holds a checkpoint of size ${r.size}`);
      continue;
    }
    parsed.push({ file: n.file, nameSize: n.nameSize, size: r.size, root: r.root, ok: true });
    const seen = validRoots.get(r.size);
    if (seen && !seen.equals(r.root)) {
      fail(lastGood, 'fork', `two signed checkpoints of size ${r.size} with different roots (fork)`);
      continue;
    }
    if (r.size < firstSeq) {
      validRoots.set(r.size, r.root); // covers records removed by retention: signature checked only
      continue;
    }
    if (r.size > size) {
      if (!lineFailure) fail(size, 'truncation', `${label} was signed for ${r.size} records but the log holds ${size}: records ${size}..${r.size - 1} are missing (truncation)`);
      continue;
    }
    const mine = rootAt.get(r.size);
    if (!mine) continue; // beyond a line failure: cannot be recomputed
    if (!mine.equals(r.root)) {
      fail(lastGood, 'root', `the tree of the first ${r.size} records does not match signed checkpoint ${r.size}: a record in ${lastGood}..${r.size - 1} was altered`);
      continue;
    }
    validRoots.set(r.size, r.root);
    if (r.size > lastGood) lastGood = r.size;
  }

  // The retention cut must itself be covered by a signed checkpoint whose root the remainder reproduces.
  if (retention) {
    const r = checkNote('retention.json checkpoint', retention.checkpoint);
    if ('check' in r) fail(firstSeq, 'retention', r.reason);
    else if (r.size < firstSeq) fail(firstSeq, 'retention', `retention.json checkpoint (size ${r.size}) does not cover the ${firstSeq} deleted records`);
    else if (r.size <= size && rootAt.has(r.size) && !rootAt.get(r.size)!.equals(r.root)) fail(firstSeq, 'retention', 'records after the retention cut do not reproduce the retention checkpoint root');
    else if (r.size <= size && rootAt.get(r.size)?.equals(r.root) && !validRoots.has(r.size)) validRoots.set(r.size, r.root);
  }

  // audit.checkpoint records: never decreasing, each matching its signed note.
  let lastRecorded = -1;
  const bySize = new Map(parsed.map((p) => [p.size, p]));
  for (const c of cpRecords) {
    if (c.size < 0 || !c.root || c.size > c.seq) {
      fail(c.seq, 'checkpoint', `audit.checkpoint record at seq ${c.seq} is malformed`);
      break;
    }
    if (c.size < lastRecorded) {
      fail(c.seq, 'rollback', `audit.checkpoint at seq ${c.seq} records size ${c.size} after size ${lastRecorded} (rollback)`);
      break;
    }
    lastRecorded = c.size;
    const note = bySize.get(c.size);
    if (!note && c.size >= firstSeq) {
      fail(Math.min(lastGood, c.size), 'checkpoint', `checkpoint ${c.size} recorded at seq ${c.seq} has no signed note in checkpoints/ (deleted?)`);
      break;
    }
    if (note && !note.root.equals(c.root)) {
      fail(Math.min(lastGood, c.size), 'fork', `audit.checkpoint at seq ${c.seq} records a different root for size ${c.size} than the signed note (fork)`);
      break;
    }
  }

  // --- 7: external (witnessed) checkpoints ---------------------------------------------------
  const witnessed: VerifyReport['witnessed'] = [];
  for (const e of external) {
    const r = checkNote(e.source, e.text);
    if ('check' in r) {
      fail(Math.min(lastGood, r.seq >= 0 ? r.seq : lastGood), r.check === 'signature' ? 'witness' : r.check, r.reason);
      continue;
    }
    witnessed.push({ source: e.source, size: r.size });
    const below = [...validRoots.keys()].filter((s) => s < r.size && s >= firstSeq);
    const anchor = below.length > 0 ? Math.max(...below) : firstSeq;
    const local = validRoots.get(r.size);
    if (local && !local.equals(r.root)) {
      fail(anchor, 'fork', `${e.source}: witnessed checkpoint of size ${r.size} has a different root than the local one (fork)`);
      continue;
    }
    if (r.size > size) {
      fail(size, 'truncation', `${e.source}: a checkpoint of size ${r.size} was witnessed but the log holds ${size} records: ${size}..${r.size - 1} are missing (truncation)`);
      continue;
    }
    if (r.size < firstSeq) continue;
    const mine = rootAt.get(r.size);
    if (mine && !mine.equals(r.root)) fail(anchor, 'witness', `${e.source}: the first ${r.size} records are not consistent with the witnessed checkpoint: a record in ${anchor}..${r.size - 1} was altered`);
  }

  // A chain break at p blames p-1 (its hash no longer matches what p committed to) unless p is
  // the first record of a segment (a replaced file) or a checkpoint of size p still verifies.
  if (lineFailure && prevBreakAt) {
    const { p, segmentStart } = prevBreakAt;
    if (!segmentStart && !validRoots.has(p) && p > firstSeq) {
      lineFailure = { seq: p - 1, check: 'prev', reason: `seq ${p - 1} does not hash to the prev recorded in seq ${p} (seq ${p - 1} was altered, or the prev of seq ${p})` };
    }
  }
  if (lineFailure) {
    // A root mismatch over a range that contains the line failure is its consequence, not news.
    const lf = lineFailure;
    for (let i = failures.length - 1; i >= 0; i -= 1) {
      const f = failures[i]!;
      if ((f.check === 'root' || f.check === 'witness') && f.seq <= lf.seq) failures.splice(i, 1);
    }
    failures.push(lf);
  }

  // --- 8: outcomes --------------------------------------------------------------------------
  const latest = [...validRoots.keys()].filter((s) => s >= firstSeq && s <= size).reduce((a, b) => Math.max(a, b), -1);
  const signedUpTo = latest >= 0 ? latest : firstSeq;
  const pending: VerifyReport['pending'] = [];
  if (!lineFailure) {
    for (const [call, seq] of decisions) {
      if (seq >= signedUpTo) pending.push({ seq, call });
      else fail(seq, 'outcome', `decision for call ${JSON.stringify(call)} at seq ${seq} has no outcome or tool.call.outcome_unknown`);
    }
    pending.sort((a, b) => a.seq - b.seq);
  }
  // Records nothing signed vouch for nothing: a log needs a checkpoint (of size > 0, or the
  // retention cut's) that verifies with a --key and that its records reproduce. Only the tail
  // after it may be unsigned (up to a checkpoint interval on a live log).
  if (failures.length === 0 && size > firstSeq && latest <= 0) {
    fail(firstSeq, 'signature', `no checkpoint signed by a --key covers records ${firstSeq}..${size - 1}: nothing vouches for them`);
  }

  failures.sort((a, b) => a.seq - b.seq || checkOrder.indexOf(a.check) - checkOrder.indexOf(b.check));
  const failure = failures[0];
  const latestRoot = latest >= 0 ? validRoots.get(latest) : undefined;
  return {
    ok: failure === undefined,
    origin,
    firstSeq,
    size,
    checkpoints: parsed.length,
    latestCheckpoint: latestRoot ? { size: latest, root: latestRoot.toString('base64') } : null,
    witnessed,
    unsignedTail: size - signedUpTo,
    pending,
    tornBytes,
    ...(failure ? { failure } : {}),
  };
}

// --- proofs ---------------------------------------------------------------------------------

/** Leaf hashes and origin of a whole log (the proof commands need every leaf). */
export function readLeaves(logDir: string): { origin: string | null; leaves: Buffer[] } {
  if (readRetention(logDir)) throw new VerifyUsageError('this log was cut by retention: proofs need every record from seq 0');
  const leaves: Buffer[] = [];
  let origin: string | null = null;
  let prev = '';
  for (const seg of listSegmentFiles(logDir)) {
    if (seg.firstSeq !== leaves.length) throw new IntegrityError(leaves.length, `segment ${seg.name} starts at seq ${seg.firstSeq}, expected ${leaves.length}: run audit verify`);
    const buf = readSegment(seg.path);
    let start = 0;
    for (let nl = buf.indexOf(0x0a, start); nl >= 0; nl = buf.indexOf(0x0a, start)) {
      const line = buf.subarray(start, nl);
      let rec: Rec;
      try {
        rec = JSON.parse(utf8.decode(line)) as Rec;
      } catch {
        throw new IntegrityError(leaves.length, `record at seq ${leaves.length} is not JSON: run audit verify`);
      }
      if (typeof rec !== 'object' || rec === null || rec.seq !== leaves.length || rec.prev !== prev) throw new IntegrityError(leaves.length, `record at seq ${leaves.length} is out of order or off the chain: run audit verify`);
      origin ??= typeof rec.log === 'string' ? rec.log : null;
      if (rec.log !== origin) throw new IntegrityError(leaves.length, `record at seq ${leaves.length} belongs to another log: run audit verify`);
      const leaf = leafHash(line);
      prev = leaf.toString('hex');
      leaves.push(leaf);
      start = nl + 1;
    }
  }
  return { origin, leaves };
}

/**
 * Opens a checkpoint note for a proof. A bad or untrusted signature, or a checkpoint of another
 * log, is an integrity failure (exit 1), as in `verify`; `mine` says the note is the log's own, so
 * a malformed one is damage to the log (1) rather than a bad argument (2).
 */
function openCheckpoint(label: string, text: string | Buffer, keys: readonly VerifierKey[], origin: string | null, mine: boolean): { size: number; root: Buffer; origin: string } {
  try {
    return keys.length > 0 ? verifyCheckpoint(text, keys, origin !== null ? { origin } : {}) : parseCheckpoint(text);
  } catch (e) {
    if (!(e instanceof CheckpointError)) throw e;
    if (e.code === 'bad-signature' || e.code === 'untrusted' || e.code === 'wrong-origin' || (mine && e.code === 'malformed')) throw new IntegrityError(0, `${label}: ${e.message}`);
    throw new VerifyUsageError(`${label}: ${e.message}`);
  }
}

/** The newest checkpoint note in a log directory (by size), verified when keys are given. */
export function latestCheckpoint(logDir: string, keys: readonly VerifierKey[] = [], origin: string | null = null): { text: string; size: number; root: Buffer } {
  const notes = readNotes(logDir).filter((n) => n.nameSize !== undefined).sort((a, b) => (a.nameSize ?? 0) - (b.nameSize ?? 0));
  const n = notes[notes.length - 1];
  if (!n) throw new VerifyUsageError(`no checkpoint in ${join(logDir, 'checkpoints')}`);
  const cp = openCheckpoint(`checkpoint ${n.file}`, n.text, keys, origin, true);
  return { text: n.text.toString('utf8'), size: cp.size, root: cp.root };
}

/** An inclusion proof, ready to print. Hashes are base64. */
export interface InclusionProofReport {
  origin: string | null;
  leafIndex: number;
  treeSize: number;
  leaf: string;
  root: string;
  proof: string[];
  checkpoint: string;
}

/**
 * Inclusion proof of record `seq` against the newest checkpoint. Throws VerifyUsageError when
 * seq is not covered yet, and IntegrityError when the log's records or newest checkpoint are
 * damaged, untrusted, or no longer match.
 */
export function proveInclusion(logDir: string, seq: number, keys: readonly VerifierKey[] = []): InclusionProofReport {
  if (!Number.isSafeInteger(seq) || seq < 0) throw new VerifyUsageError('--seq must be a non-negative integer');
  const { origin, leaves } = readLeaves(logDir);
  const cp = latestCheckpoint(logDir, keys, origin);
  if (cp.size > leaves.length) throw new IntegrityError(leaves.length, `checkpoint ${cp.size} covers more records than the log holds (${leaves.length}): truncation`);
  if (seq >= cp.size) throw new VerifyUsageError(`seq ${seq} is not covered by the newest checkpoint (size ${cp.size}) yet`);
  if (!rootFromLeaves(leaves.slice(0, cp.size)).equals(cp.root)) throw new IntegrityError(0, `the log does not match checkpoint ${cp.size}: run audit verify`);
  const proof = inclusionProof(leaves, seq, cp.size);
  const leaf = leaves[seq] as Buffer;
  verifyInclusion(seq, cp.size, leaf, proof, cp.root);
  return { origin, leafIndex: seq, treeSize: cp.size, leaf: leaf.toString('base64'), root: cp.root.toString('base64'), proof: proof.map((p) => p.toString('base64')), checkpoint: cp.text };
}

/** A consistency proof between two checkpoints. Hashes are base64. */
export interface ConsistencyProofReport {
  origin: string;
  size1: number;
  size2: number;
  root1: string;
  root2: string;
  proof: string[];
}

/** An integrity problem found while building a proof (exit 1). */
export class IntegrityError extends Error {
  override readonly name = 'IntegrityError';
  constructor(readonly seq: number, message: string) {
    super(message);
  }
}

/** Consistency proof from checkpoint note `from` to `to`, recomputed from the log. */
export function proveConsistency(logDir: string, from: string | Buffer, to: string | Buffer, keys: readonly VerifierKey[] = []): ConsistencyProofReport {
  const a = openCheckpoint('--from', from, keys, null, false);
  const b = openCheckpoint('--to', to, keys, null, false);
  if (a.origin !== b.origin) throw new VerifyUsageError(`checkpoints are for different logs (${a.origin}, ${b.origin})`);
  if (a.size > b.size) throw new IntegrityError(b.size, `--from (size ${a.size}) is newer than --to (size ${b.size}): rollback`);
  if (a.size === 0) throw new VerifyUsageError('a consistency proof from the empty tree is meaningless');
  const { origin, leaves } = readLeaves(logDir);
  if (origin !== null && origin !== a.origin) throw new VerifyUsageError(`the log is ${origin}, the checkpoints are for ${a.origin}`);
  if (b.size > leaves.length) throw new IntegrityError(leaves.length, `checkpoint ${b.size} covers more records than the log holds (${leaves.length}): truncation`);
  if (!rootFromLeaves(leaves.slice(0, a.size)).equals(a.root)) throw new IntegrityError(0, `the log does not match checkpoint ${a.size}`);
  if (!rootFromLeaves(leaves.slice(0, b.size)).equals(b.root)) throw new IntegrityError(a.size, `the log does not match checkpoint ${b.size}`);
  const proof = consistencyProof(leaves, a.size, b.size);
  verifyConsistency(a.size, b.size, proof, a.root, b.root);
  return { origin: a.origin, size1: a.size, size2: b.size, root1: a.root.toString('base64'), root2: b.root.toString('base64'), proof: proof.map((p) => p.toString('base64')) };
}
