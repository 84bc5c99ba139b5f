/**
 * One log's writer: assigns `seq` and `prev`, canonicalises each record, keeps the Merkle
 * compact range, and appends with GROUP COMMIT: records queue while a batch is being written (or
 * for at most `groupCommit` ms when nobody waits for them, or up to `groupCommitRecords`), then
 * the batch is written once, durably (an O_DSYNC write, or write + fdatasync), and every waiter
 * is released. Sequencing is synchronous (the order of `append` calls is the order on disk);
 * only durability is asynchronous. Each record is encoded once, into the batch's buffer, and
 * its leaf hash is taken from those bytes.
 *
 * A failed write keeps the batch queued at the same file offset and retries it with the next
 * batch (positional writes make the retry idempotent), so the log heals by itself once the disk
 * does; meanwhile `failure` is set and side-effecting calls are refused.
 */
import { closeSync, ftruncateSync } from 'node:fs';
import { join } from 'node:path';
import type { CompiledAudit } from './config.js';
import type { Logger } from '../observability/logger.js';
import { canonical, isCanonicalAsIs } from './canonical.js';
import { signCheckpoint, verifierKey } from './checkpoint.js';
import { installSigner, loadOrCreateHmacKey, loadOrCreateSigner, newSigner, type Signer } from './keys.js';
import { CompactRange, consistencyProof, rootOfRange, sha256Pooled } from './merkle.js';
import { recoverLog, type RecoveredLog } from './recovery.js';
import type { EventType, Fields } from './records.js';
import { PayloadMac } from './payload-mac.js';
import { checkpointName, checkpointsDir, ensureLogDir, logDir, openSegment, segmentName, syncDir, writeFileDurableAsync, type AuditIo } from './segment.js';
import type { Witness } from './witness.js';

export interface WriterDeps {
  auditDir: string;
  logId: string;
  /** Full origin line, e.g. `portcullis/acme`. */
  origin: string;
  cfg: CompiledAudit;
  io: AuditIo;
  log: Logger;
  witnesses: readonly Witness[];
  /** Called after each successful sync with the last durable seq. */
  onDurable(logId: string, seq: number): void;
}

/** Counters of one log (read by metrics and /readyz). */
export interface LogStats {
  records: number;
  durable: number;
  bytes: number;
  batches: number;
  syncs: number;
  checkpoints: number;
  lastCheckpointSize: number;
  lastCheckpointAt: number | undefined;
  /** Records not sequenced because the log was frozen or its queue full (reported in audit.gap). */
  dropped: number;
  failure: string | undefined;
  alarm: string | undefined;
}

/** The durable appends of one batch share one promise: settled once, when the batch's sync ends. */
interface Batch {
  promise: Promise<void>;
  resolve(): void;
  reject(e: Error): void;
}

function newBatch(): Batch {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** The durable tree: its size and compact range; the root is computed only for a checkpoint. */
interface Head {
  size: number;
  frontier: readonly Buffer[];
  root?: Buffer;
}

function rootOf(head: Head): Buffer {
  head.root ??= rootOfRange(head.frontier);
  return head.root;
}

const ENVELOPE = ['log', 'prev', 'seq', 'ts', 'type', 'v'] as const;
const ENVELOPE_KEYS: ReadonlySet<string> = new Set(ENVELOPE);

/** Event types written through appendRaw: plain names, placed in the line without escaping. */
export type RawEventType = 'tool.call.decision' | 'tool.call.result' | 'tool.call.error' | 'tool.call.timeout' | 'tool.call.cancelled';

let tsMs = 0;
let tsText = '';
let tsSecond = Number.NaN;
let tsPrefix = '';
/**
 * The ISO timestamp of now: `Date.toISOString` once per second for the part up to the seconds'
 * dot, the milliseconds appended (two records per call share one text).
 */
function isoNow(): string {
  const ms = Date.now();
  if (ms !== tsMs) {
    tsMs = ms;
    const sec = Math.floor(ms / 1000);
    if (sec !== tsSecond) {
      tsSecond = sec;
      tsPrefix = new Date(sec * 1000).toISOString().slice(0, -4); // "….SS." without "000Z"
    }
    const frac = ms - sec * 1000;
    tsText = `${tsPrefix}${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}Z`;
  }
  return tsText;
}

/** Initial size of a batch's staging buffer (it grows by doubling). */
const STAGE_BYTES = 64 * 1024;
/** A grown staging buffer up to this size is kept for reuse; a larger one is left to the GC. */
const MAX_SPARE_BYTES = 1024 * 1024;

type Envelope = { log: string; prev: string; seq: number; ts: string; type: string; v: 1 };

/**
 * The canonical line of envelope ∪ fields (the envelope wins on a name clash), merged in JCS
 * key order without building an intermediate object: this runs twice per call. Builders keep
 * their keys sorted, so the sort below is rarely needed, and nested values take canonical()'s
 * JSON.stringify fast path.
 */
export function recordLine(env: Envelope, fields: Fields): string {
  // Fast path: fields already canonical as they are (the builders' records): one object with
  // the envelope merged in key order, serialised by one native JSON.stringify, which emits keys
  // in insertion order (none is integer-like: isCanonicalAsIs checked the enumeration order).
  if (isCanonicalAsIs(fields)) {
    const o: Record<string, unknown> = {};
    let j = 0;
    for (const k in fields) {
      let e = ENVELOPE[j];
      while (e !== undefined && e <= k) {
        o[e] = env[e];
        j += 1;
        e = ENVELOPE[j];
      }
      if (!ENVELOPE_KEYS.has(k)) o[k] = fields[k];
    }
    for (; j < ENVELOPE.length; j += 1) {
      const e = ENVELOPE[j] as (typeof ENVELOPE)[number];
      o[e] = env[e];
    }
    return JSON.stringify(o);
  }
  let keys = Object.keys(fields);
  for (let i = 1; i < keys.length; i += 1) {
    if (!((keys[i - 1] as string) < (keys[i] as string))) {
      keys = keys.sort();
      break;
    }
  }
  let out = '{';
  let i = 0;
  let j = 0;
  while (i < keys.length || j < ENVELOPE.length) {
    const f = keys[i];
    const e = ENVELOPE[j];
    let k: string;
    let v: unknown;
    if (e !== undefined && (f === undefined || e <= f)) {
      if (e === f) i += 1;
      k = e;
      v = env[e];
      j += 1;
    } else {
      k = f as string;
      v = fields[k];
      i += 1;
    }
    if (v === undefined) continue;
    out += `${out.length > 1 ? ',' : ''}${JSON.stringify(k)}:${canonical(v)}`;
  }
  return `${out}}`;
}

/** Records kept queued at most while the disk fails; past it, records are counted as a gap. */
const MAX_QUEUE = 100_000;

export class LogWriter {
  readonly logId: string;
  readonly origin: string;
  readonly hmacKey: Buffer;
  /** HMAC of payload text under `hmacKey`. */
  readonly mac: PayloadMac;
  readonly dir: string;
  /** `origin` as a JSON string, for records built from pre-serialised fields. */
  private readonly originJson: string;
  private signers: Signer[];
  private size: number;
  private prev: string;
  private readonly range: CompactRange;
  private readonly leaves: Buffer[] | undefined;
  private fd: number | undefined;
  private segFirst = 0;
  private segBytes = 0;
  private segOpenedAt = Date.now();
  /**
   * The batch being gathered, encoded once: `slot ‖ line ‖ slot ‖ line …` where each record's
   * slot holds 0x00 while its leaf hash SHA-256(0x00 ‖ line) is taken, then the previous line's
   * '\n' (the first slot is not written). `stageLen` bytes are used.
   */
  private stage: Buffer = Buffer.allocUnsafe(STAGE_BYTES);
  private stageLen = 0;
  /**
   * The last written batch's buffer, staged into again once its write succeeded: a fresh 64 KB
   * Buffer per batch is external memory the GC has to track, several hundred times a second.
   */
  private spare: Buffer | undefined;
  /** Bytes of a failed batch, written again ahead of the stage by the next flush. */
  private retry: Buffer | undefined;
  /** Records sequenced but not yet durably written (the stage and `retry`). */
  private queued = 0;
  /** The shared promise of the durable appends queued, if any. */
  private batch: Batch | undefined;
  private flushing = false;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private readonly cpTimer: NodeJS.Timeout;
  private durable: Head;
  private lastCp: { size: number; root: Buffer; at: number } | undefined;
  private cpRecordSeq = -1;
  /** The checkpoint being written, if any. */
  private cpPending: Promise<void> | undefined;
  /** The rotation in progress (rotateKeyDurably), settled either way. */
  private rotation: Promise<void> = Promise.resolve();
  /** Wall time spent in write + fdatasync, summed (logged at close). */
  private syncMs = 0;
  private closed = false;
  private gap: { count: number; since: string } | undefined;
  private idle: (() => void)[] = [];
  readonly stats: LogStats;

  private constructor(
    private readonly deps: WriterDeps,
    rec: RecoveredLog,
  ) {
    this.logId = deps.logId;
    this.origin = deps.origin;
    this.dir = logDir(deps.auditDir, deps.logId);
    this.hmacKey = loadOrCreateHmacKey(deps.auditDir, deps.logId);
    this.mac = new PayloadMac(this.hmacKey);
    this.originJson = JSON.stringify(deps.origin);
    this.signers = [loadOrCreateSigner(deps.auditDir, deps.logId, deps.origin)];
    this.size = rec.size;
    this.prev = rec.prev;
    this.range = rec.range;
    this.leaves = rec.leaves;
    this.durable = { size: rec.size, frontier: rec.range.frontier() };
    if (rec.checkpoint) this.lastCp = { ...rec.checkpoint, at: Date.now() };
    if (rec.last) {
      this.fd = openSegment(rec.last.path, deps.io.dsync === true);
      this.segFirst = rec.last.firstSeq;
      this.segBytes = rec.last.bytes;
    }
    this.stats = {
      records: rec.size,
      durable: rec.size,
      bytes: rec.last?.bytes ?? 0,
      batches: 0,
      syncs: 0,
      checkpoints: 0,
      lastCheckpointSize: rec.checkpoint?.size ?? 0,
      lastCheckpointAt: undefined,
      dropped: 0,
      failure: undefined,
      alarm: rec.alarm,
    };
    this.cpTimer = setInterval(() => this.tick(), deps.cfg.checkpointIntervalMs);
    this.cpTimer.unref();
  }

  /**
   * Opens (creating or recovering) a log: truncates a torn tail, checks the tree against the
   * newest checkpoint, then appends `audit.recovery` and an `outcome_unknown` for every
   * decision left without an outcome. Synchronous file I/O: it runs at start or on a tenant's
   * first record.
   */
  static open(deps: WriterDeps): LogWriter {
    const dir = logDir(deps.auditDir, deps.logId);
    ensureLogDir(dir);
    const rec = recoverLog(dir, deps.witnesses.length > 0);
    const w = new LogWriter(deps, rec);
    if (deps.witnesses.length > 0 && rec.leaves === undefined && !rec.alarm) {
      // A log cut by retention has lost the leaves a consistency proof would need.
      deps.log.warn({ log: deps.logId }, 'audit.witness_proofs_unavailable');
    }
    if (rec.alarm) {
      deps.log.error({ log: deps.logId, alarm: rec.alarm }, 'audit.alarm');
      return w;
    }
    if (rec.size > 0 || rec.bytesTruncated > 0) {
      w.append('audit.recovery', { bytes_truncated: rec.bytesTruncated, last_good_seq: rec.size - 1, open_decisions: rec.openDecisions.length }, false);
      for (const d of rec.openDecisions) {
        w.append('tool.call.outcome_unknown', { call: d.call, decision_seq: d.seq, ...(d.actor !== undefined ? { actor: d.actor } : {}), ...(d.target !== undefined ? { target: d.target } : {}) }, false);
      }
      if (rec.bytesTruncated > 0) deps.log.warn({ log: deps.logId, bytes: rec.bytesTruncated, lastGoodSeq: rec.size - 1 }, 'audit.torn_tail_truncated');
    }
    return w;
  }

  /** Why this log cannot take a side-effecting call's record now, or undefined. */
  unavailable(): string | undefined {
    return this.stats.alarm ?? this.stats.failure ?? (this.closed ? 'audit log closed' : undefined);
  }

  /** Records queued or written, i.e. the next seq. */
  get nextSeq(): number {
    return this.size;
  }

  /**
   * Sequences one record. `durable`: returns a Promise resolved with its seq once it is synced
   * (rejected if the write fails); otherwise returns the seq (or -1 when it could not be
   * sequenced and is counted into the next `audit.gap`).
   */
  append(type: EventType, fields: Fields, durable: true): Promise<number>;
  append(type: EventType, fields: Fields, durable: false): number;
  append(type: EventType, fields: Fields, durable: boolean): number | Promise<number>;
  append(type: EventType, fields: Fields, durable: boolean): number | Promise<number> {
    if (this.refuses()) {
      if (durable) return Promise.reject(new Error(this.unavailable() ?? 'audit queue full'));
      return -1;
    }
    if (this.gap && this.stats.failure === undefined) this.writeGap();
    const seq = this.sequence(type, fields);
    if (!durable) {
      this.schedule();
      return seq;
    }
    const batch = (this.batch ??= newBatch());
    this.schedule();
    return batch.promise.then(() => seq);
  }

  /**
   * A durable append for the hot path: resolves (with nothing) once the record is synced,
   * rejects when it cannot be. Every durable record of one batch shares this promise, so a
   * call costs no Promise of its own.
   */
  appendDurable(type: EventType, fields: Fields): Promise<void> {
    if (this.stats.alarm !== undefined || this.closed || this.queued >= MAX_QUEUE) return this.append(type, fields, true).then(() => undefined);
    if (this.gap && this.stats.failure === undefined) this.writeGap();
    this.sequence(type, fields);
    const batch = (this.batch ??= newBatch());
    this.schedule();
    return batch.promise;
  }

  /**
   * Sequences a record whose fields a builder has already serialised canonically (the records of
   * every audited call, src/stages/audit/call-records.ts), without an object to canonicalise.
   * Each argument is comma-joined `"key":value` members in JCS order, or '', grouped by where
   * their keys sort among the envelope's: `a` before "log", `b` between "log" and "prev", `c`
   * between "prev" and "seq", `d` between "seq" and "ts" (no field sorts after "ts").
   * `durable`: the batch's shared promise, as appendDurable.
   */
  appendRaw(type: RawEventType, a: string, b: string, c: string, d: string, durable: boolean): Promise<void> | undefined {
    if (this.refuses()) return durable ? Promise.reject(new Error(this.unavailable() ?? 'audit queue full')) : undefined;
    if (this.gap && this.stats.failure === undefined) this.writeGap();
    const seq = this.size;
    const line = `{${a === '' ? '' : `${a},`}"log":${this.originJson}${b === '' ? '' : `,${b}`},"prev":"${this.prev}"${c === '' ? '' : `,${c}`},"seq":${seq}${d === '' ? '' : `,${d}`},"ts":"${isoNow()}","type":"${type}","v":1}`;
    this.stageLine(line);
    // The batch exists before schedule() looks: a waiter's record is written this turn, not after a timer.
    const batch = durable ? (this.batch ??= newBatch()) : undefined;
    this.schedule();
    return batch?.promise;
  }

  /** True, and the record counted into the next `audit.gap`, when the log cannot take a record now. */
  private refuses(): boolean {
    if (this.stats.alarm === undefined && !this.closed && this.queued < MAX_QUEUE) return false;
    this.stats.dropped += 1;
    this.gap ??= { count: 0, since: new Date().toISOString() };
    this.gap.count += 1;
    return true;
  }

  private writeGap(): void {
    const g = this.gap;
    if (!g) return;
    this.gap = undefined;
    this.sequence('audit.gap', { records_lost: g.count, since: g.since, until: new Date().toISOString() });
  }

  private sequence(type: EventType, fields: Fields): number {
    const seq = this.size;
    this.stageLine(recordLine({ log: this.origin, prev: this.prev, seq, ts: isoNow(), type, v: 1 }, fields));
    return seq;
  }

  /** Stages the canonical line of record number `size`, hashes its leaf and advances the chain. */
  private stageLine(line: string): void {
    const seq = this.size;
    // Slot + line (UTF-16 → UTF-8 is at most 3 bytes per code unit) + the batch's final '\n'.
    const p = this.stageLen;
    const need = p + line.length * 3 + 2;
    if (this.stage.length < need) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.stage.length * 2));
      this.stage.copy(grown, 0, 0, p);
      this.stage = grown;
    }
    const st = this.stage;
    st[p] = 0;
    const n = st.write(line, p + 1, 'utf8');
    // Leaf hash SHA-256(0x00 ‖ line), as recovery.ts leafOf computes it from the file.
    const leaf = sha256Pooled(st.subarray(p, p + 1 + n));
    if (p > 0) st[p] = 0x0a;
    this.stageLen = p + 1 + n;
    this.queued += 1;
    this.range.append(leaf);
    this.leaves?.push(leaf);
    this.prev = leaf.toString('hex');
    this.size = seq + 1;
    this.stats.records = this.size;
  }

  /**
   * When the next batch is written. A flush in flight reschedules on completion (records that
   * arrive during a sync form the next batch: that is where batching comes from under load).
   * Otherwise a batch with a waiter goes at the end of this turn of the event loop: a call waits
   * for one sync (at most the one in flight, then its own), never for a timer. (A 1 ms wait under
   * load was measured in the bench to add latency without making batches larger: they already
   * hold what arrived during the previous sync.) A batch nobody waits for (reads, outcomes)
   * waits up to `groupCommit` to share a sync.
   */
  private schedule(): void {
    if (this.flushing || this.immediate) return;
    const { groupCommitMs, groupCommitRecords } = this.deps.cfg;
    if (groupCommitMs === 0 || this.batch !== undefined || this.queued >= groupCommitRecords) {
      if (this.timer) {
        clearTimeout(this.timer);
        this.timer = undefined;
      }
      this.immediate = setImmediate(() => this.flush());
    } else this.timer ??= setTimeout(() => this.flush(), groupCommitMs);
  }

  /** Writes everything queued durably: one O_DSYNC write (or one write and one fdatasync). */
  private flush(): void {
    this.timer = undefined;
    this.immediate = undefined;
    if (this.flushing) return;
    if (this.queued === 0) return this.settleIdle();
    this.flushing = true;
    const count = this.queued;
    const batch = this.batch;
    let buf: Buffer = this.retry ?? Buffer.alloc(0);
    let staged: Buffer | undefined;
    if (this.stageLen > 0) {
      this.stage[this.stageLen] = 0x0a;
      const body = this.stage.subarray(1, this.stageLen + 1);
      buf = this.retry ? Buffer.concat([this.retry, body]) : body;
      // The staged bytes now belong to this write; the next records go to the spare buffer.
      staged = this.stage;
      this.stage = this.spare ?? Buffer.allocUnsafe(STAGE_BYTES);
      this.spare = undefined;
      this.stageLen = 0;
    }
    this.retry = undefined;
    this.queued = 0;
    this.batch = undefined;
    const firstSeq = this.size - count;
    const head: Head = { size: this.size, frontier: this.range.frontier() };
    const startedAt = performance.now();
    void this.writeBatch(buf, firstSeq).then(
      () => {
        this.syncMs += performance.now() - startedAt;
        this.segBytes += buf.length;
        this.durable = head;
        this.stats.durable = head.size;
        this.stats.bytes += buf.length;
        this.stats.batches += 1;
        this.stats.syncs += 1;
        if (this.stats.failure !== undefined) {
          this.deps.log.warn({ log: this.logId }, 'audit.write_recovered');
          this.stats.failure = undefined;
        }
        batch?.resolve();
        // Written: its buffer can take a later batch. (After a failure it cannot: `retry` points into it.)
        if (staged !== undefined && staged.length <= MAX_SPARE_BYTES) this.spare = staged;
        this.flushing = false;
        try {
          this.deps.onDurable(this.logId, head.size - 1);
        } catch (e) {
          this.deps.log.error({ err: e }, 'audit.on_durable_failed');
        }
        if (this.lastCp === undefined ? head.size >= this.deps.cfg.checkpointRecords : head.size - this.lastCp.size >= this.deps.cfg.checkpointRecords) this.checkpoint();
        if (this.queued > 0) this.schedule();
        else this.settleIdle();
      },
      (e: unknown) => {
        const err = e as NodeJS.ErrnoException;
        const reason = `audit write failed: ${err.code ?? err.message}`;
        if (this.stats.failure === undefined) this.deps.log.error({ log: this.logId, err: err.message, code: err.code }, 'audit.write_failed');
        this.stats.failure = reason;
        // Keep the records, in order, ahead of anything queued since: the next batch retries them.
        this.retry = buf;
        this.queued += count;
        batch?.reject(new Error(reason));
        // Cut a torn write back before the next attempt (never concurrently with it: a late
        // truncate would remove the retried bytes).
        const done = (): void => {
          this.flushing = false;
          // Durable appends that arrived meanwhile are the next attempt; records alone wait for the tick.
          if (this.batch !== undefined) this.schedule();
          // drain() callers learn of the failure from `stats.failure`; they must not hang on a dead disk.
          this.releaseIdle();
        };
        if (this.fd !== undefined) this.deps.io.ftruncate(this.fd, this.segBytes).then(done, done);
        else done();
      },
    );
  }

  private async writeBatch(buf: Buffer, firstSeq: number): Promise<void> {
    const { segmentBytes, segmentAgeMs } = this.deps.cfg;
    if (this.fd !== undefined && this.segBytes > 0 && (this.segBytes >= segmentBytes || Date.now() - this.segOpenedAt >= segmentAgeMs)) {
      // A sealed segment ends at its last durable record, whatever a failed write left behind.
      ftruncateSync(this.fd, this.segBytes);
      closeSync(this.fd);
      this.fd = undefined;
    }
    if (this.fd === undefined) {
      ensureLogDir(this.dir);
      this.fd = openSegment(join(this.dir, segmentName(firstSeq)), this.deps.io.dsync === true);
      // The new segment's state before anything that can throw: a failed directory sync must not
      // leave the old segment's length to truncate the new file to (zeros).
      this.segFirst = firstSeq;
      this.segBytes = 0;
      this.segOpenedAt = Date.now();
      syncDir(this.dir);
    }
    await this.deps.io.write(this.fd, buf, this.segBytes);
    // An O_DSYNC segment's write is already durable; otherwise one fdatasync per batch.
    if (this.deps.io.dsync !== true) await this.deps.io.fdatasync(this.fd);
  }

  private settleIdle(): void {
    if (this.flushing || this.queued > 0) return;
    this.releaseIdle();
  }

  private releaseIdle(): void {
    const idle = this.idle;
    this.idle = [];
    for (const f of idle) f();
  }

  /** Resolves once everything queued so far, and a checkpoint being written, has been written (or has failed). */
  drain(): Promise<void> {
    const cp = this.cpPending;
    if (cp !== undefined) return cp.then(() => this.drain());
    if (!this.flushing && this.queued === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.idle.push(resolve);
      if (!this.flushing && !this.timer && !this.immediate) this.flush();
    });
  }

  private tick(): void {
    // The interval also retries a failed batch when no new record arrives to carry it.
    if (this.queued > 0 && !this.flushing && !this.timer && !this.immediate) this.flush();
    this.checkpoint();
  }

  /**
   * Signs a checkpoint of the durable tree when it grew (beyond our own last checkpoint
   * record), writes `checkpoints/<size>.note` (durably, on the thread pool: `drain()` waits for
   * it), hands it to the witnesses, then appends `audit.checkpoint`. One at a time. Never on an
   * alarmed log: it must not sign a tree inconsistent with one it signed before.
   */
  checkpoint(): void {
    if (this.cpPending !== undefined || this.stats.alarm !== undefined) return;
    const head = this.durable;
    if (head.size === 0) return;
    const last = this.lastCp;
    if (last && (head.size <= last.size || (head.size === last.size + 1 && this.cpRecordSeq === last.size))) return;
    let root: Buffer;
    let text: string;
    const signers = this.signers;
    try {
      root = rootOf(head);
      text = signCheckpoint({ origin: this.origin, size: head.size, root }, signers);
    } catch (e) {
      this.deps.log.error({ log: this.logId, err: (e as Error).message }, 'audit.checkpoint_failed');
      return;
    }
    this.cpPending = writeFileDurableAsync(checkpointsDir(this.dir), checkpointName(head.size), text).then(
      () => {
        this.cpPending = undefined;
        this.lastCp = { size: head.size, root, at: Date.now() };
        this.stats.checkpoints += 1;
        this.stats.lastCheckpointSize = head.size;
        this.stats.lastCheckpointAt = this.lastCp.at;
        // The checkpoint after a key rotation carried both signatures; later ones carry the new
        // key's only (unless the key was rotated again meanwhile).
        if (this.signers === signers && signers.length > 1) this.signers = signers.slice(-1);
        this.publish(text, { size: head.size, root });
        if (!this.closed) this.cpRecordSeq = this.append('audit.checkpoint', { size: head.size, root: root.toString('base64') }, false);
      },
      (e: unknown) => {
        this.cpPending = undefined;
        this.deps.log.error({ log: this.logId, err: (e as Error).message }, 'audit.checkpoint_failed');
      },
    );
  }

  private publish(text: string, head: { size: number; root: Buffer }): void {
    const leaves = this.leaves;
    for (const w of this.deps.witnesses) {
      w.submit({
        logId: this.logId,
        text,
        size: head.size,
        root: head.root,
        proof: (from) => (leaves ? consistencyProof(leaves, from, head.size) : []),
      }).catch((e: unknown) => this.deps.log.warn({ witness: w.name, log: this.logId, size: head.size, err: (e as Error).message }, 'audit.witness_refused'));
    }
  }

  /**
   * Rotates to `given` in memory only (tests, an external KMS) and appends `audit.key_rotated`:
   * the first checkpoint after it carries both the old and the new signature, later ones only the
   * new key's. The key files are not touched.
   */
  rotateKey(given: Signer): { old: string; new: string } {
    const old = this.signers[this.signers.length - 1] as Signer;
    const keys = { old: verifierKey(this.origin, old.publicKey), new: verifierKey(this.origin, given.publicKey) };
    this.append('audit.key_rotated', { new_key: keys.new, old_key: keys.old }, false);
    this.signers = [old, given];
    return keys;
  }

  /**
   * Rotates to a new key, in the order that survives a crash at any point: (1) `audit.key_rotated`
   * is durable, (2) a checkpoint covering it, signed by both keys, is durable, (3) only then do
   * the key files change (keys.ts `installSigner`). Before (3) a restart simply goes on with the
   * old key, which every checkpoint so far verifies with; after it, the dual-signed checkpoint
   * links the old key to the new one. A failure before (3) leaves the old key in use and rejects.
   * One rotation at a time.
   */
  rotateKeyDurably(): Promise<{ old: string; new: string }> {
    const run = this.rotation.then(async () => {
      const old = this.signers[this.signers.length - 1] as Signer;
      const next = newSigner(this.origin);
      const keys = { old: verifierKey(this.origin, old.publicKey), new: verifierKey(this.origin, next.publicKey) };
      const seq = await this.append('audit.key_rotated', { new_key: keys.new, old_key: keys.old }, true);
      this.signers = [old, next];
      try {
        // A checkpoint in flight may have been signed before the record; wait for one that covers it.
        for (let i = 0; i < 3 && !((this.lastCp?.size ?? 0) > seq); i++) {
          await this.cpPending;
          this.checkpoint();
          await this.cpPending;
        }
        if (!((this.lastCp?.size ?? 0) > seq)) throw new Error('no checkpoint covering the rotation could be written');
        installSigner(this.deps.auditDir, this.logId, this.origin, next);
      } catch (e) {
        this.signers = [old];
        this.deps.log.error({ log: this.logId, err: (e as Error).message }, 'audit.key_rotation_failed');
        throw e;
      }
      this.signers = [next];
      return keys;
    });
    this.rotation = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** Final checkpoint and sync; later appends are dropped (counted). */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.drain();
    this.checkpoint();
    await this.drain();
    this.closed = true;
    const st = this.stats;
    if (this.queued > 0) {
      // The disk failed and did not come back before close: these records were sequenced but never
      // written, and the next open reuses their seqs. Say so, loudly, with the range.
      this.deps.log.error({ log: this.logId, records: this.queued, fromSeq: this.size - this.queued, toSeq: this.size - 1, failure: st.failure }, 'audit.records_lost_at_close');
    }
    this.deps.log.info({ log: this.logId, records: st.records, batches: st.batches, syncs: st.syncs, syncWallMsAvg: st.syncs > 0 ? Math.round((this.syncMs / st.syncs) * 1000) / 1000 : 0, bytes: st.bytes, checkpoints: st.checkpoints }, 'audit.log_closed');
    clearInterval(this.cpTimer);
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd);
      } catch {
        /* already gone */
      }
      this.fd = undefined;
    }
  }
}
