/**
 * UpstreamGuard: everything that stands between the forward stage and one upstream — circuit
 * breaker, bulkhead, retries and the read cache. It lives on the UpstreamManager, so its state
 * survives any config reload that keeps the upstream (unchanged, or updated in place: `update`).
 */
import type { CallOutcome } from '../../mcp/jsonrpc.js';
import type { Logger } from '../../observability/logger.js';
import { GatewayError } from '../../pipeline/errors.js';
import { CircuitBreaker, type BreakerState } from './breaker.js';
import { Bulkhead } from './bulkhead.js';
import type { CompiledResilience } from './compile.js';
import type { CancelSignal } from '../types.js';
import { ReadCache } from './read-cache.js';
import { backoffMs, isSafe, isTransient, verdictOf } from './retry.js';

export class UpstreamGuard {
  readonly breaker: CircuitBreaker;
  readonly bulkhead: Bulkhead;
  readonly cache: ReadCache;

  constructor(
    readonly upstream: string,
    private cfg: CompiledResilience,
    log: Logger,
  ) {
    // One line per transition, never per refused call.
    this.breaker = new CircuitBreaker(cfg.breaker, (from, to) => log.warn({ upstream, from, to }, 'upstream.breaker'));
    this.bulkhead = new Bulkhead(cfg.bulkhead);
    this.cache = new ReadCache(cfg.cache);
  }

  /**
   * New `resilience` settings from a config reload, applied in place: retries read them per call,
   * the breaker and the bulkhead keep their state under the new limits, the read cache is emptied.
   */
  update(cfg: CompiledResilience): void {
    this.cfg = cfg;
    this.breaker.update(cfg.breaker);
    this.bulkhead.update(cfg.bulkhead);
    this.cache.update(cfg.cache);
  }

  get breakerState(): BreakerState {
    return this.breaker.state;
  }

  /** Fails fast, before any link is chosen or opened, while the circuit is open. */
  refuseIfOpen(): void {
    if (this.cfg.breaker.enabled && this.breaker.state === 'open') throw circuitOpen(this.upstream);
  }

  /** True when this call may be retried (see retry.ts). */
  safe(method: string, params: Record<string, unknown> | undefined): boolean {
    return this.cfg.retry.attempts > 0 && isSafe(method, params, this.cfg.retry);
  }

  /**
   * Runs one upstream call through the breaker and the bulkhead, retrying transient failures of
   * safe calls with backoff within the attempt and time bounds, and never past `signal`.
   * `send` must not reject (links return failures as error outcomes).
   */
  async run(safe: boolean, signal: CancelSignal, send: () => Promise<CallOutcome>): Promise<CallOutcome> {
    const started = Date.now();
    let outcome = await this.once(signal, send, true);
    if (!safe) return outcome;
    const r = this.cfg.retry;
    for (let n = 1; n <= r.attempts && isTransient(outcome) && !signal.aborted; n++) {
      const wait = backoffMs(n, r);
      if (Date.now() - started + wait > r.maxElapsedMs) break;
      if (!(await waitUnlessCancelled(wait, signal))) break; // the client went away: its last outcome stands
      // A circuit that opened meanwhile, or a full bulkhead, ends the retries with the last failure.
      const next = await this.once(signal, send, false);
      if (next === undefined) break;
      outcome = next;
    }
    return outcome;
  }

  private async once(signal: CancelSignal, send: () => Promise<CallOutcome>, first: true): Promise<CallOutcome>;
  private async once(signal: CancelSignal, send: () => Promise<CallOutcome>, first: false): Promise<CallOutcome | undefined>;
  private async once(signal: CancelSignal, send: () => Promise<CallOutcome>, first: boolean): Promise<CallOutcome | undefined> {
    const ticket = this.breaker.tryAcquire();
    if (ticket === undefined) {
      if (first) throw circuitOpen(this.upstream);
      return undefined;
    }
    let slot: true | Promise<void>;
    try {
      slot = this.bulkhead.acquire(signal);
      if (slot !== true) await slot;
    } catch (e) {
      this.breaker.record(ticket, 'neutral');
      if (first) throw e;
      return undefined;
    }
    let verdict: 'success' | 'failure' | 'neutral' = 'neutral';
    try {
      const o = await send();
      verdict = verdictOf(o);
      return o;
    } finally {
      this.bulkhead.release();
      this.breaker.record(ticket, verdict);
    }
  }
}

function circuitOpen(upstream: string): GatewayError {
  return new GatewayError('ERR_CIRCUIT_OPEN', `Upstream ${upstream} is failing; its circuit is open`);
}

/** Waits `ms`; resolves false at once if the call is cancelled first. */
function waitUnlessCancelled(ms: number, signal: CancelSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise<boolean>((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
