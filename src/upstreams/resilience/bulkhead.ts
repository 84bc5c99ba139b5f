/**
 * A bulkhead per upstream: at most `maxInFlight` calls at once, and at most `queue` more waiting
 * (each for at most `queueTimeout`) for a free slot; anything beyond gets ERR_UPSTREAM_BUSY.
 * The common case (a free slot) is a synchronous counter increment.
 */
import { GatewayError } from '../../pipeline/errors.js';
import type { CompiledBulkhead } from './compile.js';
import type { CancelSignal } from '../types.js';

interface Waiter {
  grant(): void;
}

export class Bulkhead {
  private active = 0;
  private readonly waiting: Waiter[] = [];

  constructor(private cfg: CompiledBulkhead) {}

  get inFlight(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Takes a slot at once (true), or returns a promise for one; throws ERR_UPSTREAM_BUSY when full. */
  acquire(signal: CancelSignal): true | Promise<void> {
    if (this.cfg.maxInFlight === 0 || this.active < this.cfg.maxInFlight) {
      this.active++;
      return true;
    }
    if (this.waiting.length >= this.cfg.queue) throw busy(this.cfg.maxInFlight);
    if (signal.aborted) throw new GatewayError('ERR_CANCELLED');
    return new Promise<void>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        const i = this.waiting.indexOf(w);
        if (i >= 0) this.waiting.splice(i, 1);
      };
      const w: Waiter = {
        grant: () => {
          done();
          this.active++;
          resolve();
        },
      };
      const onAbort = (): void => {
        done();
        reject(new GatewayError('ERR_CANCELLED'));
      };
      const timer = setTimeout(() => {
        done();
        reject(busy(this.cfg.maxInFlight));
      }, this.cfg.queueTimeoutMs);
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(w);
    });
  }

  /**
   * New limits from a config reload. Calls holding a slot keep it; waiters take the slots a
   * higher `maxInFlight` frees at once. A lower `queue` turns away new waiters only, and a new
   * `queueTimeout` applies to waits that start from now on.
   */
  update(cfg: CompiledBulkhead): void {
    this.cfg = cfg;
    while (this.waiting.length > 0 && (cfg.maxInFlight === 0 || this.active < cfg.maxInFlight)) this.waiting[0]!.grant();
  }

  /** Gives a slot back; the longest waiter, if any, takes it. */
  release(): void {
    if (this.active > 0) this.active--;
    this.waiting[0]?.grant();
  }
}

function busy(max: number): GatewayError {
  return new GatewayError('ERR_UPSTREAM_BUSY', `Upstream has ${max} calls in flight`);
}
