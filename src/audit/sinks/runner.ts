/**
 * One runner per (log, sink): tails the log from the sink's persisted cursor, delivers batches,
 * retries a failed batch with exponential backoff and jitter until it is delivered, then fsyncs
 * the new cursor. It never skips a record. Its lag and `overHighWater()` feed the fail-closed
 * predicate (docs/audit.md "Remote sinks").
 */
import { readCursor, writeCursor, type SinkCursor } from './cursor.js';
import { measureLag, readBatch, type SinkBatch, type SinkLag } from './tail.js';
import type { Sink } from './sink.js';
import type { CompiledSinkCommon } from './config.js';

/** While backing off, the lag is re-measured at most this often (wake() after each sync)… */
const LAG_REFRESH_MIN_MS = 100;
/** …and at least this often (or every poll interval, when shorter). */
const LAG_REFRESH_MAX_MS = 1000;

/** Runner settings (a compiled sink's numbers). */
/** Delivery settings come straight from the compiled sink. */
export interface SinkRunnerOptions extends Pick<CompiledSinkCommon, 'batch' | 'pollMs' | 'timeoutMs' | 'retry' | 'highWater' | 'onSinkFailure'> {
  logDir: string;
  logId: string;
  sink: Sink;
  /** Called on each failed attempt (for logs); never given the secret or the payload. */
  onError?: (e: unknown, attempt: number) => void;
  /** Records of the log known durable (fsync-ed); later ones wait. Undefined: every complete line (offline use). */
  durableSize?: () => number | undefined;
  /** Clock for lag ages (tests). */
  now?: () => number;
}

/** A running delivery loop for one log to one sink. */
export class SinkRunner {
  readonly #o: SinkRunnerOptions;
  readonly #stop = new AbortController();
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  /** Abandons the delivery in flight (stop() past its grace period). */
  #abandon: (() => void) | undefined;
  #cursor: SinkCursor = { seq: 0, segment: 0, offset: 0 };
  #lag: SinkLag = { bytes: 0, records: 0, seconds: 0 };
  #failing = false;
  #lastError: string | undefined;
  #delivered = 0;
  #attempts = 0;

  constructor(o: SinkRunnerOptions) {
    this.#o = o;
  }

  /** The log this runner delivers. */
  get logId(): string {
    return this.#o.logId;
  }

  /** Starts the loop (idempotent). */
  start(): void {
    this.#loop ??= this.#run().catch((e: unknown) => {
      // A corrupt segment or cursor: stay failing (and so fail closed past the mark), never skip.
      this.#failing = true;
      this.#lastError = e instanceof Error ? e.message : String(e);
      this.#o.onError?.(e, -1);
    });
  }

  /** Looks for new records now instead of at the next poll. */
  wake(): void {
    this.#wake?.();
  }

  /**
   * Stops after the delivery in flight and closes the sink. That delivery may finish within
   * `graceMs` (and always within the delivery timeout); past that it is abandoned, and its batch
   * is sent again by the next start.
   */
  async stop(graceMs = Number.POSITIVE_INFINITY): Promise<void> {
    this.#stop.abort();
    const t = Number.isFinite(graceMs) ? setTimeout(() => this.#abandon?.(), Math.max(0, graceMs)) : undefined;
    try {
      await this.#loop;
    } finally {
      clearTimeout(t);
    }
    await this.#o.sink.close();
  }

  /** Lag as of the last poll. */
  get lag(): SinkLag {
    return { ...this.#lag };
  }

  /** The delivery cursor (next seq to deliver). */
  get cursor(): SinkCursor {
    return { ...this.#cursor };
  }

  /** Records delivered since start, and delivery attempts that failed. */
  get stats(): { delivered: number; failedAttempts: number; failing: boolean; lastError?: string } {
    return { delivered: this.#delivered, failedAttempts: this.#attempts, failing: this.#failing, ...(this.#lastError ? { lastError: this.#lastError } : {}) };
  }

  /** Why side-effecting calls must be refused because of this sink, or undefined. */
  backpressure(): string | undefined {
    const hw = this.#o.highWater;
    const name = `${this.#o.sink.name}/${this.#o.logId}`;
    if (this.#lag.bytes > hw.bytes) return `audit sink ${name} is ${this.#lag.bytes} bytes behind (high-water ${hw.bytes})`;
    if (this.#lag.seconds * 1000 > hw.ageMs) return `audit sink ${name} is ${Math.round(this.#lag.seconds)} s behind (high-water ${hw.ageMs / 1000} s)`;
    if (this.#o.onSinkFailure === 'fail_closed' && this.#failing) return `audit sink ${name} is failing (onSinkFailure: fail_closed)`;
    return undefined;
  }

  /** Sleeps `ms`; stop() always interrupts, wake() only when `wakeable` (a poll, or a lag re-measure during a backoff). */
  #sleep(ms: number, wakeable: boolean): Promise<void> {
    const signal = this.#stop.signal;
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        if (this.#wake === done) this.#wake = undefined;
        resolve();
      };
      const t = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
      if (wakeable) this.#wake = done;
    });
  }

  async #refreshLag(): Promise<void> {
    this.#lag = await measureLag(this.#o.logDir, this.#cursor, this.#o.now?.() ?? Date.now());
  }

  /**
   * The backoff after a failed attempt: nothing is delivered before it ends (wake() cannot cut it
   * short), but the lag is re-measured meanwhile — after a wake() (new durable records) and at
   * least every poll interval (capped at 1 s), never twice within 100 ms — so that backpressure()
   * trips the high-water mark during an outage instead of after the backoff. The measurements run
   * in this loop, one at a time; stop() ends it.
   */
  async #backoffSleep(ms: number): Promise<void> {
    const until = Date.now() + ms;
    const every = Math.min(LAG_REFRESH_MAX_MS, Math.max(LAG_REFRESH_MIN_MS, this.#o.pollMs));
    let last = Date.now();
    while (!this.#stop.signal.aborted) {
      // Rate limit: a burst of wakes (one per sync) costs at most one measurement per 100 ms.
      const gap = Math.min(until, last + LAG_REFRESH_MIN_MS) - Date.now();
      if (gap > 0) await this.#sleep(gap, false);
      const left = until - Date.now();
      if (left <= 0) return;
      await this.#sleep(Math.min(left, every), true);
      if (this.#stop.signal.aborted || Date.now() >= until) return;
      last = Date.now();
      await this.#refreshLag().catch(() => undefined);
    }
  }

  /** Exponential backoff with "equal jitter": half fixed, half random, capped. */
  #backoff(attempt: number): number {
    const d = Math.min(this.#o.retry.maxMs, this.#o.retry.initialMs * 2 ** Math.min(attempt - 1, 30));
    return d / 2 + Math.random() * (d / 2);
  }

  /**
   * One delivery, bounded by the delivery timeout: stop() lets it finish (within its grace), so
   * that a batch the receiver has taken is acknowledged and its cursor written, not sent again.
   */
  async #deliver(batch: Parameters<Sink['deliver']>[0]): Promise<void> {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), this.#o.timeoutMs);
    this.#abandon = () => ac.abort();
    try {
      await this.#o.sink.deliver(batch, ac.signal);
    } finally {
      clearTimeout(timer);
      this.#abandon = undefined;
    }
  }

  #noteFailure(e: unknown, attempt: number): void {
    this.#attempts++;
    this.#failing = true;
    this.#lastError = e instanceof Error ? e.message : String(e);
    this.#o.onError?.(e, attempt);
  }

  async #run(): Promise<void> {
    const o = this.#o;
    let loaded = false;
    let attempt = 0;
    while (!this.#stop.signal.aborted) {
      let batch: SinkBatch | undefined;
      try {
        // Until the cursor is readable, lag counts from seq 0: an unreadable cursor still trips the high-water mark.
        if (!loaded) {
          this.#cursor = (await readCursor(o.logDir, o.sink.name)) ?? { seq: 0, segment: 0, offset: 0 };
          loaded = true;
        }
        await this.#refreshLag();
        batch = await readBatch(o.logDir, o.logId, this.#cursor, o.batch, o.durableSize?.());
        if (batch) {
          await this.#deliver(batch);
          // Durable before moving on: a crash re-sends at most this batch (consumers dedupe).
          await writeCursor(o.logDir, o.sink.name, batch.next);
          this.#cursor = batch.next;
          this.#delivered += batch.records.length;
        }
      } catch (e) {
        // Delivery, a read of the log or the cursor write failed: retry the same cursor later.
        this.#noteFailure(e, ++attempt);
        await this.#refreshLag().catch(() => undefined);
        await this.#backoffSleep(this.#backoff(attempt));
        continue;
      }
      attempt = 0;
      this.#failing = false;
      this.#lastError = undefined;
      if (!batch) await this.#sleep(o.pollMs, true);
    }
  }
}
