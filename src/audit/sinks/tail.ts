/**
 * Reads a log forward from a sink cursor: the local log is the spool. Only complete
 * ('\n'-terminated) lines are read, so a record being appended is picked up on the next poll.
 */
import { stat } from 'node:fs/promises';
import { listSegments, openSegment, parseStored, type SegmentFile, type StoredRecord } from '../export/segments.js';
import type { SinkCursor } from './cursor.js';

/** A batch of consecutive records of one log, as delivered to a sink. */
export interface SinkBatch {
  /** The log's origin (every record's `log`). */
  log: string;
  /** The log directory name (`t-<tenant>` or `system`). */
  logId: string;
  first_seq: number;
  last_seq: number;
  records: StoredRecord[];
  /** The cursor after this batch. */
  next: SinkCursor;
}

/** How much one batch may hold. */
export interface BatchLimits {
  records: number;
  bytes: number;
}

// A record is bounded by the writer (strings ≤ 256 chars, ≤ 64 argument keys); this only stops
// a corrupt segment without newlines from being read whole.
const MAX_LINE = 4 * 1024 * 1024;

/** The segment holding `cursor` (by name, else the last one starting at or before its seq). */
function locate(segments: readonly SegmentFile[], cursor: SinkCursor): { index: number; offset: number } | undefined {
  const exact = segments.findIndex((s) => s.firstSeq === cursor.segment);
  if (exact >= 0) return { index: exact, offset: cursor.offset };
  let index = -1;
  for (let i = 0; i < segments.length; i++) if (segments[i]!.firstSeq <= cursor.seq) index = i;
  // Everything at or after the cursor was removed (should not happen: retention waits for sinks).
  if (index < 0) return segments.length ? { index: 0, offset: 0 } : undefined;
  return { index, offset: 0 };
}

/**
 * Up to `want` bytes of a segment from `offset`, and its size. A FIFO, directory or device named
 * like a segment is refused before any read (`cannot read segment PATH: not a regular file`, as
 * export does): opened non-blocking, so a FIFO cannot hold the runner (and a thread-pool thread).
 */
async function readChunk(path: string, offset: number, want: number): Promise<{ buf: Buffer; size: number }> {
  const { fh, size } = await openSegment(path);
  try {
    const len = Math.max(0, Math.min(want, size - offset));
    const buf = Buffer.alloc(len);
    let got = 0;
    while (got < len) {
      const { bytesRead } = await fh.read(buf, got, len - got, offset + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return { buf: buf.subarray(0, got), size };
  } finally {
    await fh.close();
  }
}

/** The next batch after `cursor`, or undefined when the sink is caught up. */
export async function readBatch(logDir: string, logId: string, cursor: SinkCursor, limits: BatchLimits, durableSize?: number): Promise<SinkBatch | undefined> {
  const segments = await listSegments(logDir);
  const at = locate(segments, cursor);
  if (!at) return undefined;
  let { index, offset } = at;
  for (;;) {
    const seg = segments[index]!;
    let want = Math.max(limits.bytes, 64 * 1024);
    let chunk = await readChunk(seg.path, offset, want);
    let end = chunk.buf.lastIndexOf(0x0a);
    while (end < 0 && offset + chunk.buf.length < chunk.size && want < MAX_LINE) {
      want = Math.min(MAX_LINE, want * 4);
      chunk = await readChunk(seg.path, offset, want);
      end = chunk.buf.lastIndexOf(0x0a);
    }
    const records: StoredRecord[] = [];
    let notDurable = false;
    let pos = 0;
    let bytes = 0;
    while (pos <= end && records.length < limits.records) {
      const nl = chunk.buf.indexOf(0x0a, pos);
      const lineLen = nl - pos + 1;
      if (records.length > 0 && bytes + lineLen > limits.bytes) break;
      const line = chunk.buf.toString('utf8', pos, nl);
      if (line === '') {
        pos = nl + 1;
        continue;
      }
      const r = parseStored(line);
      // Written but not yet fsync-ed: a crash could still replace it, so it is not delivered yet.
      if (durableSize !== undefined && r.seq >= durableSize) {
        notDurable = true;
        break;
      }
      pos = nl + 1;
      bytes += lineLen;
      if (r.seq < cursor.seq) continue; // repositioned by seq: skip what was delivered
      records.push(r);
    }
    if (records.length > 0) {
      const last = records[records.length - 1]!;
      const first = records[0]!;
      return { log: first.log, logId, first_seq: first.seq, last_seq: last.seq, records, next: { seq: last.seq + 1, segment: seg.firstSeq, offset: offset + pos } };
    }
    if (notDurable && records.length === 0) return undefined;
    if (pos > 0) {
      offset += pos; // only already-delivered lines here; keep reading this segment
      continue;
    }
    // Nothing complete past the cursor in this segment: a later segment means this one is sealed.
    if (index + 1 >= segments.length) return undefined;
    index++;
    offset = 0;
  }
}

/** How far a sink is behind its log. */
export interface SinkLag {
  /** Undelivered bytes of segment data. */
  bytes: number;
  /** Undelivered records (complete lines). */
  records: number;
  /** Age of the oldest undelivered record in seconds (0 when caught up). */
  seconds: number;
}

async function lastLine(path: string, size: number): Promise<string | undefined> {
  const span = Math.min(size, 256 * 1024);
  const { buf } = await readChunk(path, size - span, span);
  const end = buf.lastIndexOf(0x0a);
  if (end < 0) return undefined;
  const start = buf.lastIndexOf(0x0a, end - 1) + 1;
  return buf.toString('utf8', start, end);
}

/** Measures lag from the cursor to the end of the log (complete lines only). */
export async function measureLag(logDir: string, cursor: SinkCursor, now: number = Date.now()): Promise<SinkLag> {
  const segments = await listSegments(logDir);
  const at = locate(segments, cursor);
  if (!at) return { bytes: 0, records: 0, seconds: 0 };
  let bytes = 0;
  let lastSeq = -1;
  for (let i = at.index; i < segments.length; i++) {
    const st = await stat(segments[i]!.path);
    // Not a regular file: nothing to count; readBatch refuses it when the cursor gets there.
    if (!st.isFile()) continue;
    const size = st.size;
    bytes += i === at.index ? Math.max(0, size - at.offset) : size;
    if (i === segments.length - 1 || i === segments.length - 2) {
      const line = size > 0 ? await lastLine(segments[i]!.path, size) : undefined;
      if (line) lastSeq = Math.max(lastSeq, parseStored(line).seq);
    }
  }
  const records = Math.max(0, lastSeq + 1 - cursor.seq);
  if (records === 0) return { bytes: 0, records: 0, seconds: 0 };
  const next = await readBatch(logDir, '', cursor, { records: 1, bytes: 64 * 1024 });
  const ts = next ? Date.parse(next.records[0]!.ts) : NaN;
  return { bytes, records, seconds: Number.isFinite(ts) ? Math.max(0, (now - ts) / 1000) : 0 };
}
