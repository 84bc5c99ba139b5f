/**
 * Read-only access to one audit log directory as the writer lays it out (docs/audit.md):
 * `seg-<firstSeq>.jsonl` segments, `checkpoints/<size>.note`. Export, the sink runners and
 * retention all read through here; nothing in this file writes.
 */
import { constants } from 'node:fs';
import { open, readdir, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { MAX_NOTE_BYTES, readFileBounded } from '../checkpoint.js';
import { fileKind } from '../../storage/bounded-read.js';
import { tenantLogId as writerLogId } from '../records.js';

/** A segment file and the seq of its first record (from its name). */
export interface SegmentFile {
  firstSeq: number;
  path: string;
  name: string;
}

/** A checkpoint note on disk: its size (from its name) and its text. */
export interface CheckpointFile {
  size: number;
  path: string;
}

const SEGMENT = /^seg-(\d{20})\.jsonl$/;
const CHECKPOINT = /^(\d{20})\.note$/;
// Anything that could name another directory, or hide in a terminal, is refused outright; other
// unusual ids map to the writer's hashed log id exactly as the writer maps them.
// eslint-disable-next-line no-control-regex
const PATHLIKE = /[/\\\u0000-\u001f\u007f]|^\.{1,2}$/;

/** Thrown for a tenant id that cannot be a log directory name (path characters, too long, …). */
export class InvalidTenantError extends Error {
  constructor(tenant: string) {
    super(`invalid tenant id ${JSON.stringify(tenant.slice(0, 64))}: no path separators, control characters, "." or ".."; 1–256 characters`);
    this.name = 'InvalidTenantError';
  }
}

/** The log id of a tenant (`t-<tenant>`, as the writer names it), refusing any id that could leave `logs/`. */
export function tenantLogId(tenant: string): string {
  if (tenant.length === 0 || tenant.length > 256 || PATHLIKE.test(tenant)) throw new InvalidTenantError(tenant);
  return writerLogId(tenant);
}

/** `<auditDir>/logs/<log id of tenant>`: the only directory a tenant's export reads. */
export function tenantLogDir(auditDir: string, tenant: string): string {
  return join(auditDir, 'logs', tenantLogId(tenant));
}

async function names(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/** Segments of a log, oldest first. */
export async function listSegments(logDir: string): Promise<SegmentFile[]> {
  const out: SegmentFile[] = [];
  for (const name of await names(logDir)) {
    const m = SEGMENT.exec(name);
    if (m) out.push({ firstSeq: Number(m[1]), path: join(logDir, name), name });
  }
  return out.sort((a, b) => a.firstSeq - b.firstSeq);
}

/** Checkpoint notes of a log, smallest size first. */
export async function listCheckpoints(logDir: string): Promise<CheckpointFile[]> {
  const dir = join(logDir, 'checkpoints');
  const out: CheckpointFile[] = [];
  for (const name of await names(dir)) {
    const m = CHECKPOINT.exec(name);
    if (m) out.push({ size: Number(m[1]), path: join(dir, name) });
  }
  return out.sort((a, b) => a.size - b.size);
}

/** A checkpoint's size, root and full signed-note text (signatures are NOT checked here: export is a view). */
export interface CheckpointRef {
  size: number;
  root: string;
  note: string;
}

/** The body lines of a note, without checking signatures (`portcullis audit verify` does that). */
export function readCheckpointBody(note: string): { origin: string; size: number; root: string } {
  const [origin, size, root] = note.split('\n');
  if (!origin || !size || !/^\d{1,16}$/.test(size) || !root) throw new Error('malformed checkpoint note');
  return { origin, size: Number(size), root };
}

/**
 * The smallest checkpoint that covers `seq` (its size > seq), or undefined when none does yet
 * (the tail after the last checkpoint is not yet signed).
 */
export async function checkpointCovering(logDir: string, seq: number): Promise<CheckpointRef | undefined> {
  for (const cp of await listCheckpoints(logDir)) {
    if (cp.size <= seq) continue;
    const raw = readFileBounded(cp.path, MAX_NOTE_BYTES); // a note is a few hundred bytes: never read a huge file whole
    if (raw.length > MAX_NOTE_BYTES) throw new Error(`checkpoint ${cp.path} is larger than ${MAX_NOTE_BYTES} bytes: run portcullis audit verify`);
    const note = raw.toString('utf8');
    const body = readCheckpointBody(note);
    return { size: body.size, root: body.root, note };
  }
  return undefined;
}

/** One stored record: the exact line (without '\n') and the fields every reader needs. */
export interface StoredRecord {
  line: string;
  seq: number;
  ts: string;
  type: string;
  log: string;
  record: Record<string, unknown>;
}

/** Parses one stored line; throws on a line that is not a record (the log is corrupt: verify it). */
export function parseStored(line: string): StoredRecord {
  const record = JSON.parse(line) as Record<string, unknown>;
  const { seq, ts, type, log } = record;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0 || typeof type !== 'string' || typeof log !== 'string') {
    throw new Error('audit segment holds a line that is not a record');
  }
  return { line, seq, ts: typeof ts === 'string' ? ts : '', type, log, record };
}

/** Selects records by seq range (inclusive) and/or time range (inclusive, ISO strings compared as instants). */
export interface RecordRange {
  fromSeq?: number;
  toSeq?: number;
  fromTime?: number;
  toTime?: number;
}

/**
 * Opens a segment for reading, and its size at open time (export and the sink tail read through
 * it). Anything but a regular file (a FIFO, a directory, a device named like a segment) is refused
 * before any read, naming it, as readFileBounded does for `audit verify`: opened non-blocking, so
 * a FIFO cannot hang the open. The caller closes `fh`.
 */
export async function openSegment(path: string): Promise<{ fh: FileHandle; size: number }> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new Error(`cannot read segment ${path}: not a regular file (${fileKind(st)})`);
    return { fh, size: st.size };
  } catch (e) {
    await fh.close();
    throw e;
  }
}

/**
 * Every complete record of the log in `range`, in seq order. Streams segment by segment (memory is
 * one line); a final line without '\n' (a torn or in-progress write) is not a record and is skipped.
 * A segment that is not a regular file throws `cannot read segment <path>: not a regular file`.
 */
export async function* readRecords(logDir: string, range: RecordRange = {}): AsyncGenerator<StoredRecord> {
  const segments = await listSegments(logDir);
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    const next = segments[i + 1];
    if (range.fromSeq !== undefined && next && next.firstSeq <= range.fromSeq) continue;
    if (range.toSeq !== undefined && seg.firstSeq > range.toSeq) return;
    const { fh, size } = await openSegment(seg.path);
    // Only bytes up to the last '\n' seen at open time: a concurrent append is not read half-done.
    // The stream owns the handle from here (autoClose): destroying it closes the file.
    const input = fh.createReadStream({ encoding: 'utf8', start: 0, end: Math.max(0, size - 1) });
    const lines = createInterface({ input, crlfDelay: Infinity });
    let consumed = 0;
    try {
      for await (const line of lines) {
        consumed += Buffer.byteLength(line) + 1;
        if (consumed > size) break; // no terminating '\n' within the snapshot: not a record yet
        if (line === '') continue;
        const rec = parseStored(line);
        if (range.fromSeq !== undefined && rec.seq < range.fromSeq) continue;
        if (range.toSeq !== undefined && rec.seq > range.toSeq) return;
        if (range.fromTime !== undefined || range.toTime !== undefined) {
          const t = Date.parse(rec.ts);
          if (range.fromTime !== undefined && !(t >= range.fromTime)) continue;
          if (range.toTime !== undefined && !(t <= range.toTime)) continue;
        }
        yield rec;
      }
    } finally {
      lines.close();
      input.destroy();
    }
  }
}
