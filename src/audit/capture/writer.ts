/**
 * CaptureWriter: appends capture lines to `<root>/<tenant log id>/<endpoint>/<UTC date>.jsonl`
 * (directories 0700, files 0600) in asynchronous batches. It never blocks or fails a call: a
 * full queue drops lines and counts them, a failed write counts its lines as failed; both are
 * logged at most once per interval, with counts and error codes only, never a payload. Each
 * endpoint directory is kept within its `maxBytes` (oldest files deleted; files rotate at a
 * quarter of it) and its `maxAge` (swept every minute). All disk work runs on one chain, so a
 * sweep never races a write.
 */
import { join } from 'node:path';
import type { Logger } from '../../observability/logger.js';
import { nodeCaptureIo, type CaptureIo } from './io.js';
import { fileName, listFiles, prune, utcDate, type CaptureFile } from './files.js';

export interface CaptureLimits {
  maxBytes: number;
  /** 0: no age limit. */
  maxAgeMs: number;
}

/** One line to append (already redacted, JSON, '\n'-terminated). */
export interface CaptureLine {
  /** `t-<tenant>` (src/audit/records.ts tenantLogId): file-name safe. */
  tenantDir: string;
  /** The virtual server's name (file-name safe by the config schema). */
  endpoint: string;
  /** When the call ended (ms since the epoch): picks the UTC date file. */
  ts: number;
  line: string;
  limits: CaptureLimits;
}

export interface CaptureWriterOptions {
  io?: CaptureIo;
  /** Longest a queued line waits for its batch (default 200 ms). */
  flushMs?: number;
  /** Queue bounds; past either, lines are dropped and counted (defaults 10,000 lines, 16 MiB). */
  maxQueueLines?: number;
  maxQueueBytes?: number;
  /** Retention sweep period (default 60 s). */
  sweepMs?: number;
  /** Drops and write failures are logged at most once per this interval (default 60 s). */
  reportMs?: number;
  /** The current limits of an endpoint's directory (capture on or off); undefined: no longer configured. */
  limitsOf?: (endpoint: string) => CaptureLimits | undefined;
  /** Age limit of directories whose endpoint is no longer configured. */
  orphanMaxAgeMs?: number;
  now?: () => number;
}

export interface CaptureStats {
  written: number;
  bytes: number;
  dropped: number;
  failed: number;
  deleted: number;
  queued: number;
}

interface EndpointState {
  dir: string;
  files: CaptureFile[];
}

/** Most directories visited by one sweep (tenants × endpoints). */
const MAX_SWEEP_DIRS = 10_000;
/** Most flush rounds in one drain (each takes the whole queue). */
const MAX_ROUNDS = 1000;

export class CaptureWriter {
  private readonly io: CaptureIo;
  private queue: CaptureLine[] = [];
  private queuedBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly sweeper: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private readonly endpoints = new Map<string, EndpointState>();
  private closed = false;
  private readonly counts = { written: 0, bytes: 0, dropped: 0, failed: 0, deleted: 0 };
  private readonly unreported = { dropped: 0, failed: 0, code: '' };
  private lastReport = 0;
  private readonly o: Required<Omit<CaptureWriterOptions, 'io' | 'limitsOf'>> & Pick<CaptureWriterOptions, 'limitsOf'>;

  constructor(
    readonly root: string,
    private readonly log: Logger,
    opts: CaptureWriterOptions = {},
  ) {
    this.io = opts.io ?? nodeCaptureIo;
    this.o = {
      flushMs: opts.flushMs ?? 200,
      maxQueueLines: opts.maxQueueLines ?? 10_000,
      maxQueueBytes: opts.maxQueueBytes ?? 16 * 1024 * 1024,
      sweepMs: opts.sweepMs ?? 60_000,
      reportMs: opts.reportMs ?? 60_000,
      orphanMaxAgeMs: opts.orphanMaxAgeMs ?? 7 * 86_400_000,
      now: opts.now ?? Date.now,
      limitsOf: opts.limitsOf,
    };
    if (this.o.sweepMs > 0) {
      this.sweeper = setInterval(() => {
        this.report();
        void this.sweep();
      }, this.o.sweepMs);
      this.sweeper.unref();
    }
  }

  stats(): CaptureStats {
    return { ...this.counts, queued: this.queue.length };
  }

  /** Queues a line; false when it was dropped (closed, or the queue is full). Never throws. */
  enqueue(l: CaptureLine): boolean {
    const bytes = Buffer.byteLength(l.line);
    if (this.closed || this.queue.length >= this.o.maxQueueLines || this.queuedBytes + bytes > this.o.maxQueueBytes) {
      this.noteDropped(1);
      return false;
    }
    this.queue.push(l);
    this.queuedBytes += bytes;
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, this.o.flushMs);
      this.timer.unref();
    }
    return true;
  }

  /** Counts lines lost before they reached the queue (e.g. a capture that could not be built). */
  noteDropped(n: number): void {
    this.counts.dropped += n;
    this.unreported.dropped += n;
    this.report();
  }

  /** Writes everything queued so far. */
  flush(): Promise<void> {
    return this.run(async () => {
      for (let round = 0; round < MAX_ROUNDS && this.queue.length > 0; round++) {
        const batch = this.queue;
        this.queue = [];
        this.queuedBytes = 0;
        const groups = new Map<string, CaptureLine[]>();
        for (const l of batch) {
          const key = `${l.tenantDir}/${l.endpoint}`;
          const g = groups.get(key);
          if (g) g.push(l);
          else groups.set(key, [l]);
        }
        for (const [key, lines] of groups) await this.writeGroup(key, lines);
      }
    });
  }

  /** Deletes files past each endpoint's age and size limits. */
  sweep(): Promise<void> {
    return this.run(async () => {
      let tenants: string[];
      try {
        tenants = await this.io.readdir(this.root);
      } catch {
        return; // nothing captured yet, or unreadable (reported by writes)
      }
      let visited = 0;
      for (const t of tenants) {
        if (!t.startsWith('t-')) continue;
        let eps: string[];
        try {
          eps = await this.io.readdir(join(this.root, t));
        } catch {
          continue;
        }
        for (const ep of eps) {
          if (++visited > MAX_SWEEP_DIRS) return;
          const key = `${t}/${ep}`;
          const dir = join(this.root, t, ep);
          const lim = this.o.limitsOf?.(ep) ?? { maxBytes: Number.MAX_SAFE_INTEGER, maxAgeMs: this.o.orphanMaxAgeMs };
          try {
            const files = await listFiles(this.io, dir);
            const left = await prune(this.io, dir, files, lim.maxBytes, lim.maxAgeMs > 0 ? this.o.now() - lim.maxAgeMs : undefined, undefined);
            this.counts.deleted += files.length - left.length;
            this.endpoints.delete(key); // re-listed on the next write
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== 'ENOTDIR') this.noteFailed(0, e);
          }
        }
      }
    });
  }

  /** Flushes, stops the timers and reports what was dropped. Later lines are dropped. */
  async close(): Promise<void> {
    if (this.closed) return this.chain;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.sweeper) clearInterval(this.sweeper);
    await this.flush();
    this.closed = true;
    this.lastReport = 0;
    this.report();
  }

  private run(job: () => Promise<void>): Promise<void> {
    const next = this.chain.then(job, job);
    this.chain = next.catch(() => undefined);
    return this.chain;
  }

  private async writeGroup(key: string, lines: CaptureLine[]): Promise<void> {
    const first = lines[0];
    if (!first) return;
    const limits = first.limits;
    const rotateAt = Math.max(1, Math.floor(limits.maxBytes / 4));
    try {
      let known = this.endpoints.get(key);
      if (!known) {
        const dir = join(this.root, first.tenantDir, first.endpoint);
        await this.io.mkdir(dir);
        known = { dir, files: await listFiles(this.io, dir) };
        this.endpoints.set(key, known);
      }
      const st = known;
      // Consecutive lines for the same file become one append.
      let cur: CaptureFile | undefined;
      let text = '';
      let count = 0;
      const put = async (): Promise<void> => {
        if (!cur || text === '') return;
        await this.io.append(join(st.dir, cur.name), text);
        cur.size += Buffer.byteLength(text);
        cur.mtimeMs = this.o.now();
        this.counts.written += count;
        this.counts.bytes += Buffer.byteLength(text);
        text = '';
        count = 0;
      };
      for (const l of lines) {
        const date = utcDate(l.ts);
        const last = st.files[st.files.length - 1];
        const pending = Buffer.byteLength(text);
        if (!cur || cur.date !== date || cur.size + pending >= rotateAt) {
          await put();
          if (last && last.date === date && last.size < rotateAt) cur = last;
          else if (last && last.date > date) cur = last; // a clock step back: keep appending to the newest file
          else {
            cur = { name: fileName(date, last && last.date === date ? last.n + 1 : 0), date, n: last && last.date === date ? last.n + 1 : 0, size: 0, mtimeMs: this.o.now() };
            st.files.push(cur);
          }
        }
        text += l.line;
        count += 1;
      }
      await put();
      const before = st.files.length;
      st.files = await prune(this.io, st.dir, st.files, limits.maxBytes, undefined, cur?.name);
      this.counts.deleted += before - st.files.length;
    } catch (e) {
      this.endpoints.delete(key);
      this.noteFailed(lines.length, e);
    }
  }

  private noteFailed(n: number, e: unknown): void {
    this.counts.failed += n;
    this.unreported.failed += n;
    this.unreported.code = (e as NodeJS.ErrnoException).code ?? 'EUNKNOWN';
    this.report();
  }

  /** Logs drops and failures at most once per interval: counts and an error code, never a payload. */
  private report(): void {
    const u = this.unreported;
    if (u.dropped === 0 && u.failed === 0) return;
    const now = this.o.now();
    if (this.lastReport !== 0 && now - this.lastReport < this.o.reportMs) return;
    this.lastReport = now;
    if (u.dropped > 0) this.log.warn({ dropped: u.dropped, total: this.counts.dropped }, 'capture.dropped');
    if (u.failed > 0 || u.code !== '') this.log.warn({ failed: u.failed, total: this.counts.failed, code: u.code }, 'capture.write_failed');
    u.dropped = 0;
    u.failed = 0;
    u.code = '';
  }
}
