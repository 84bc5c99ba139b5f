/**
 * A circuit breaker per upstream: closed → open after too many failures (in a row, or as a rate
 * over a sliding window), open → half-open after `openFor`, half-open → closed on a probe's
 * success or back to open on its failure. Hand-written rather than cockatiel's: the hot path is
 * a few comparisons and one bucket update, with no promise wrapping or event emitter per call.
 */
import type { CompiledBreaker } from './compile.js';

export type BreakerState = 'closed' | 'open' | 'half-open';

/** Buckets of the sliding window: the rate is measured to within a tenth of `window`. */
const BUCKETS = 10;

/** What a finished attempt tells the breaker. `neutral`: says nothing about the upstream (e.g. the client cancelled). */
export type Verdict = 'success' | 'failure' | 'neutral';

/** A permission to call: an ordinary call, or one of the half-open probes. */
export type Ticket = 'call' | 'probe';

export class CircuitBreaker {
  private current: BreakerState = 'closed';
  private openedAt = 0;
  private consecutive = 0;
  private probes = 0;
  private readonly calls = new Uint32Array(BUCKETS);
  private readonly failures = new Uint32Array(BUCKETS);
  private bucketAt = 0;
  private bucket = 0;

  constructor(
    private cfg: CompiledBreaker,
    private readonly onTransition: (from: BreakerState, to: BreakerState) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** The state as of now (an open circuit whose time is up reads as half-open). */
  get state(): BreakerState {
    if (this.current === 'open' && this.now() - this.openedAt >= this.cfg.openForMs) this.move('half-open');
    return this.current;
  }

  /**
   * Asks to make one call. undefined: refuse it (ERR_CIRCUIT_OPEN). A ticket: the caller must
   * later hand it back with `record()`, whatever happens.
   */
  tryAcquire(): Ticket | undefined {
    if (!this.cfg.enabled) return 'call';
    const s = this.state;
    if (s === 'closed') return 'call';
    if (s === 'open' || this.probes >= this.cfg.halfOpenProbes) return undefined;
    this.probes++;
    return 'probe';
  }

  /** Reports an acquired call's verdict. */
  record(t: Ticket, v: Verdict): void {
    if (!this.cfg.enabled) return;
    if (t === 'probe') {
      if (this.probes > 0) this.probes--;
      if (this.current !== 'half-open') return;
      if (v === 'success') this.close();
      else if (v === 'failure') this.open();
      return;
    }
    // Calls admitted before the circuit opened say nothing new once it has.
    if (this.current !== 'closed' || v === 'neutral') return;
    const i = this.slot();
    this.calls[i]!++;
    if (v === 'success') {
      this.consecutive = 0;
      return;
    }
    this.failures[i]!++;
    this.consecutive++;
    if (this.cfg.consecutiveFailures > 0 && this.consecutive >= this.cfg.consecutiveFailures) return this.open();
    if (this.cfg.failureRate > 0) {
      let calls = 0;
      let failures = 0;
      for (let k = 0; k < BUCKETS; k++) {
        calls += this.calls[k]!;
        failures += this.failures[k]!;
      }
      if (calls >= this.cfg.minimumCalls && failures >= this.cfg.failureRate * calls) this.open();
    }
  }

  /**
   * Closes the circuit on outside evidence that the upstream is back: its link was re-opened and
   * its catalogue read again (a stronger probe than one call). Calls that failed together when
   * the old link died must not keep the new one shut.
   */
  reset(): void {
    if (this.current !== 'closed') this.close();
    else this.consecutive = 0;
  }

  /**
   * New settings from a config reload, applied to the running breaker: its state stays (an open
   * circuit stays open, now for the new `openFor` since it opened). A disabled breaker closes; a
   * new `window` starts the failure-rate measurement afresh (counts over another window are not
   * comparable).
   */
  update(cfg: CompiledBreaker): void {
    const old = this.cfg;
    this.cfg = cfg;
    if (!cfg.enabled) {
      this.probes = 0;
      if (this.current !== 'closed') this.close();
      return;
    }
    if (cfg.windowMs !== old.windowMs) {
      this.calls.fill(0);
      this.failures.fill(0);
      this.bucket = 0;
      this.bucketAt = this.now();
    }
  }

  /** The current bucket index, clearing buckets that slid out of the window. */
  private slot(): number {
    const width = Math.max(1, Math.ceil(this.cfg.windowMs / BUCKETS));
    const t = this.now();
    const steps = Math.floor((t - this.bucketAt) / width);
    if (steps > 0) {
      for (let k = 1; k <= Math.min(steps, BUCKETS); k++) {
        const j = (this.bucket + k) % BUCKETS;
        this.calls[j] = 0;
        this.failures[j] = 0;
      }
      this.bucket = (this.bucket + Math.min(steps, BUCKETS)) % BUCKETS;
      this.bucketAt += steps * width;
      if (t - this.bucketAt >= width) this.bucketAt = t;
    }
    return this.bucket;
  }

  private open(): void {
    this.openedAt = this.now();
    this.probes = 0;
    this.move('open');
  }

  private close(): void {
    this.consecutive = 0;
    this.calls.fill(0);
    this.failures.fill(0);
    this.move('closed');
  }

  private move(to: BreakerState): void {
    const from = this.current;
    if (from === to) return;
    this.current = to;
    this.onTransition(from, to);
  }
}
