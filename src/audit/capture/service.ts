/**
 * CaptureService: the runtime's payload capture (docs/audit.md "Payload capture"). The pipeline
 * hands it a job per forwarded call (references only); redaction and serialisation run after
 * the call's reply, in a bounded number of jobs per event-loop turn, and the lines go to the
 * CaptureWriter. A full job queue drops jobs and counts them. Nothing here can fail a call.
 */
import { join } from 'node:path';
import type { Logger } from '../../observability/logger.js';
import { tenantLogId } from '../records.js';
import { captureLine, type CaptureJob } from './record.js';
import { CaptureWriter, type CaptureLimits, type CaptureStats, type CaptureWriterOptions } from './writer.js';
import type { CompiledCapture } from './config.js';

export interface CaptureServiceOptions extends CaptureWriterOptions {
  /** Jobs waiting for redaction (default 256: each holds its call's payloads); past it, jobs are dropped and counted. */
  maxPendingJobs?: number;
}

/** Jobs redacted per event-loop turn: a burst never holds the loop for long. */
const JOBS_PER_TURN = 64;

export class CaptureService {
  readonly writer: CaptureWriter;
  private jobs: { job: CaptureJob; cfg: CompiledCapture }[] = [];
  private scheduled = false;
  private closed = false;
  private readonly maxPending: number;

  /** `auditDir`: the audit directory; captures go under `<auditDir>/capture`. */
  constructor(auditDir: string, log: Logger, opts: CaptureServiceOptions = {}) {
    this.writer = new CaptureWriter(join(auditDir, 'capture'), log, opts);
    this.maxPending = opts.maxPendingJobs ?? 256;
  }

  stats(): CaptureStats {
    const s = this.writer.stats();
    return { ...s, queued: s.queued + this.jobs.length };
  }

  /** Queues one call's capture. Never throws, never waits. */
  submit(job: CaptureJob, cfg: CompiledCapture): void {
    if (this.closed || this.jobs.length >= this.maxPending) {
      this.writer.noteDropped(1);
      return;
    }
    this.jobs.push({ job, cfg });
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.process(JOBS_PER_TURN));
    }
  }

  private process(max: number): void {
    this.scheduled = false;
    const batch = this.jobs.splice(0, max);
    for (const { job, cfg } of batch) {
      const limits: CaptureLimits = { maxBytes: cfg.maxBytes, maxAgeMs: cfg.maxAgeMs };
      try {
        this.writer.enqueue({ tenantDir: tenantLogId(job.tenant), endpoint: job.endpoint, ts: job.ts, line: captureLine(job, cfg.maxPayloadBytes), limits });
      } catch {
        this.writer.noteDropped(1);
      }
    }
    if (this.jobs.length > 0 && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.process(JOBS_PER_TURN));
    }
  }

  /** Redacts every pending job and writes everything queued (tests, shutdown). */
  async drain(): Promise<void> {
    this.process(this.jobs.length);
    await this.writer.flush();
  }

  /** Drains, then closes the writer; later jobs are dropped. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.drain();
    this.closed = true;
    await this.writer.close();
  }
}
