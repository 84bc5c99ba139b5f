/**
 * Crash recovery of one log, run when the log is opened (before the gateway listens):
 * re-read every segment, truncate a torn final line of the last one, recompute the Merkle tree
 * and the `prev` chain, and check them against the newest checkpoint the log signed. A log
 * shorter than a checkpoint it signed, or one whose tree no longer matches it, is an alarm:
 * the writer then refuses side-effecting calls until an operator looks.
 */
import { createHash, hash } from 'node:crypto';
import { closeSync, openSync, readFileSync, statSync, ftruncateSync, fsyncSync } from 'node:fs';
import { join } from 'node:path';
import { NotRegularFileError, openRegularFileSync } from '../storage/bounded-read.js';
import { CompactRange, type CompactRangeState } from './merkle.js';
import { RETENTION_FILE } from './retention.js';
import { parseCheckpoint } from './checkpoint.js';
import { checkpointName, checkpointsDir, listCheckpoints, listSegments } from './segment.js';
import { OUTCOME_TYPES } from './records.js';

/** A decision that had no outcome when the log was last written. */
export interface OpenDecision {
  call: string;
  seq: number;
  actor?: unknown;
  target?: unknown;
}

export interface RecoveredLog {
  /** Next seq to assign (= number of records). */
  size: number;
  /** Hex leaf hash of the last record ('' for an empty log). */
  prev: string;
  range: CompactRange;
  /** Leaf hashes of every record, kept only when asked for (witness proofs). */
  leaves?: Buffer[];
  /** The segment to append to, if any. */
  last?: { firstSeq: number; path: string; bytes: number };
  bytesTruncated: number;
  openDecisions: OpenDecision[];
  /** Newest checkpoint on disk. */
  checkpoint?: { size: number; root: Buffer };
  /** Set when the log cannot be trusted to append to: truncation below a checkpoint, a broken chain, a segment that is not a regular file. */
  alarm?: string;
}

const NL = 0x0a;

/** Leaf hash of one record line (without its '\n'): SHA-256(0x00 ‖ line). */
export function leafOf(line: Buffer | string): Buffer {
  // '\0' is the single byte 0x00 in UTF-8; the one-shot hash avoids a Hash object per record.
  if (typeof line === 'string') return hash('sha256', `\0${line}`, 'buffer');
  return createHash('sha256').update(Buffer.of(0)).update(line).digest();
}

/** Where the records on disk start: 0, or a retention cut's `first_seq` with its chain and tree state. */
interface Start {
  seq: number;
  prev: string;
  range: CompactRange;
}

/**
 * The start of a log cut by retention (retention.ts writes `retention.json` before it deletes),
 * or of a whole log. A `retention.json` that cannot be used is an alarm, not a reason to start
 * from 0: the records it describes are gone.
 */
function startOf(dir: string): Start | { alarm: string } {
  let raw: string;
  try {
    raw = readFileSync(join(dir, RETENTION_FILE), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { seq: 0, prev: '', range: new CompactRange() };
    return { alarm: `${RETENTION_FILE} cannot be read: ${(e as Error).message}` };
  }
  try {
    const j = JSON.parse(raw) as { first_seq?: unknown; prev?: unknown; frontier?: unknown };
    const range = CompactRange.fromJSON(j.frontier as CompactRangeState);
    if (!Number.isSafeInteger(j.first_seq) || typeof j.prev !== 'string' || range.size !== j.first_seq) throw new Error('fields do not agree');
    return { seq: j.first_seq as number, prev: j.prev, range };
  } catch (e) {
    return { alarm: `${RETENTION_FILE} is damaged: ${(e as Error).message}` };
  }
}

/**
 * The bytes of one segment. A FIFO, directory or device named like a segment throws
 * NotRegularFileError before any read: opened non-blocking and checked on the handle, so a FIFO
 * cannot hold the gateway's start.
 */
function readSegment(path: string): Buffer {
  const { fd } = openRegularFileSync(path);
  try {
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Recovers the log in `dir`; `keepLeaves` also returns every leaf hash (not for a log cut by
 * retention: the deleted leaves are gone, so no consistency proof can be built from them).
 */
export function recoverLog(dir: string, keepLeaves: boolean): RecoveredLog {
  const start0 = startOf(dir);
  if ('alarm' in start0) return { size: 0, prev: '', range: new CompactRange(), bytesTruncated: 0, openDecisions: [], alarm: start0.alarm };
  // Segments wholly before the cut are leftovers of a retention pass that crashed before unlinking.
  const segments = listSegments(dir).filter((seg) => seg.firstSeq >= start0.seq);
  const range = start0.range;
  const leaves: Buffer[] | undefined = keepLeaves && start0.seq === 0 ? [] : undefined;
  const open = new Map<string, OpenDecision>();
  const cps = listCheckpoints(dir);
  const cpSize = cps.length > 0 ? (cps[cps.length - 1] as number) : undefined;
  let rootAtCp: Buffer | undefined = cpSize === start0.seq ? range.root() : undefined;
  let seq = start0.seq;
  let prev = start0.prev;
  let alarm: string | undefined;
  let bytesTruncated = 0;
  let last: RecoveredLog['last'];

  segments.forEach((seg, i) => {
    if (alarm) return;
    const isLast = i === segments.length - 1;
    if (seg.firstSeq !== seq) {
      alarm = `segment ${seg.path} starts at seq ${seg.firstSeq}, expected ${seq}`;
      return;
    }
    let buf: Buffer;
    try {
      buf = readSegment(seg.path);
    } catch (e) {
      if (!(e instanceof NotRegularFileError)) throw e;
      alarm = `segment ${seg.path} is not a regular file (${e.kind})`;
      return;
    }
    let start = 0;
    let good = 0;
    while (start < buf.length) {
      const nl = buf.indexOf(NL, start);
      if (nl < 0) break; // torn tail: no terminating newline
      const line = buf.subarray(start, nl);
      let rec: { seq?: unknown; prev?: unknown; type?: unknown; call?: unknown; actor?: unknown; target?: unknown };
      try {
        rec = JSON.parse(line.toString('utf8')) as typeof rec;
      } catch {
        rec = {};
      }
      if (rec.seq !== seq || rec.prev !== prev) {
        // A bad final line of the last segment is a torn write; anywhere else it is damage.
        if (isLast && buf.indexOf(NL, nl + 1) < 0) break;
        alarm = `record at seq ${seq} in ${seg.path} is corrupt or out of order`;
        return;
      }
      const leaf = leafOf(line);
      range.append(leaf);
      leaves?.push(leaf);
      prev = leaf.toString('hex');
      seq += 1;
      if (seq === cpSize) rootAtCp = range.root();
      if (rec.type === 'tool.call.decision' && typeof rec.call === 'string') open.set(rec.call, { call: rec.call, seq: seq - 1, actor: rec.actor, target: rec.target });
      else if (typeof rec.type === 'string' && OUTCOME_TYPES.has(rec.type) && typeof rec.call === 'string') open.delete(rec.call);
      start = nl + 1;
      good = start;
    }
    if (good < buf.length) {
      if (!isLast) {
        alarm = `segment ${seg.path} has a partial record before the last segment`;
        return;
      }
      bytesTruncated = buf.length - good;
      const fd = openSync(seg.path, 'r+');
      try {
        ftruncateSync(fd, good);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
    if (isLast) last = { firstSeq: seg.firstSeq, path: seg.path, bytes: statSync(seg.path).size };
  });

  let checkpoint: RecoveredLog['checkpoint'];
  if (cpSize !== undefined) {
    try {
      const cp = parseCheckpoint(readFileSync(join(checkpointsDir(dir), checkpointName(cpSize))));
      checkpoint = { size: cp.size, root: cp.root };
      if (!alarm && cp.size > seq) alarm = `log holds ${seq} records but checkpoint ${cp.size} was signed: truncated`;
      else if (!alarm && rootAtCp && !rootAtCp.equals(cp.root)) alarm = `tree at size ${cp.size} does not match its signed checkpoint`;
    } catch (e) {
      alarm ??= `newest checkpoint cannot be read: ${(e as Error).message}`;
    }
  }
  return {
    size: seq,
    prev,
    range,
    ...(leaves ? { leaves } : {}),
    ...(last ? { last } : {}),
    bytesTruncated,
    openDecisions: [...open.values()],
    ...(checkpoint ? { checkpoint } : {}),
    ...(alarm ? { alarm } : {}),
  };
}
