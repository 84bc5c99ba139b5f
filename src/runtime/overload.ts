/**
 * Load shedding: a timer samples the event-loop delay (p99 since the last sample, from
 * node:perf_hooks monitorEventLoopDelay) and the V8 heap in use; while either is over its
 * threshold POST /mcp answers 503 ERR_OVERLOADED. Shedding stops only once every reading is
 * back below `recoverAt` of its threshold (hysteresis), so the gateway does not flap. Requests
 * read one boolean; nothing is measured per request.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import type { Logger } from '../observability/logger.js';
import type { CompiledOverload } from '../upstreams/resilience/compile.js';

/** One sample of the gateway's own load. */
export interface LoadReading {
  /** p99 event-loop delay over the last interval, in ms. */
  lagMs: number;
  /** Heap in use as a fraction of the heap limit. */
  heapFraction: number;
}

/**
 * Consecutive samples the event-loop lag must stay over its threshold before shedding starts:
 * one long synchronous task (a large JSON body, a module load) is not overload, sustained lag is.
 */
const LAG_SAMPLES = 3;

export class OverloadMonitor {
  private on = false;
  private lagOver = 0;
  private cfg: CompiledOverload | undefined;
  private timer: NodeJS.Timeout | undefined;
  private histogram: IntervalHistogram | undefined;
  private last: LoadReading = { lagMs: 0, heapFraction: 0 };

  constructor(
    private readonly log: Logger,
    private readonly read: () => LoadReading = () => this.measure(),
  ) {}

  /** True while requests should be shed. */
  get shedding(): boolean {
    return this.on;
  }

  /** The latest reading, for diagnostics. */
  get reading(): LoadReading {
    return this.last;
  }

  /** Applies (new) settings and takes a first sample at once; starts the timer on first use. */
  configure(cfg: CompiledOverload): void {
    const restart = this.cfg?.sampleIntervalMs !== cfg.sampleIntervalMs;
    this.cfg = cfg;
    const active = cfg.lagMs > 0 || cfg.heapFraction > 0;
    if (!active) {
      this.stop();
      this.set(false, this.last);
      return;
    }
    if (!this.histogram) {
      this.histogram = monitorEventLoopDelay({ resolution: 10 });
      this.histogram.enable();
    }
    if (restart || !this.timer) {
      if (this.timer) clearInterval(this.timer);
      this.timer = setInterval(() => this.sample(), cfg.sampleIntervalMs);
      this.timer.unref();
    }
    this.sample();
  }

  /** Takes one reading and updates the state. Exposed for tests with an injected reader. */
  sample(): void {
    const cfg = this.cfg;
    if (!cfg) return;
    const r = this.read();
    this.last = r;
    const lag = cfg.lagMs > 0 ? r.lagMs / cfg.lagMs : 0;
    const heap = cfg.heapFraction > 0 ? r.heapFraction / cfg.heapFraction : 0;
    this.lagOver = lag > 1 ? this.lagOver + 1 : 0;
    if (!this.on) this.set(this.lagOver >= LAG_SAMPLES || heap > 1, r);
    else this.set(!(lag < cfg.recoverFraction && heap < cfg.recoverFraction), r);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.histogram?.disable();
    this.histogram = undefined;
  }

  private set(on: boolean, r: LoadReading): void {
    if (on === this.on) return;
    this.on = on;
    const fields = { lagMs: Math.round(r.lagMs), heapPercent: Math.round(r.heapFraction * 1000) / 10 };
    if (on) this.log.warn(fields, 'gateway.overload.shedding');
    else this.log.info(fields, 'gateway.overload.recovered');
  }

  private measure(): LoadReading {
    const h = this.histogram;
    // The histogram reports nanoseconds; it is reset so each sample covers one interval.
    const lagMs = h && h.count > 0 ? h.percentile(99) / 1e6 : 0;
    h?.reset();
    const s = getHeapStatistics();
    return { lagMs, heapFraction: s.heap_size_limit > 0 ? s.used_heap_size / s.heap_size_limit : 0 };
  }
}
