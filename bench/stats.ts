/**
 * Latency bookkeeping for the bench: samples in milliseconds, summarised with nearest-rank
 * percentiles (no interpolation, so a p99 is always a latency that was actually observed).
 */

/** Summary of one measured phase. */
export interface Summary {
  requests: number;
  errors: number;
  seconds: number;
  rps: number;
  meanMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** Appends samples in chunks so a long run never copies one huge array. */
export class Samples {
  private readonly chunks: Float64Array[] = [];
  private cur = new Float64Array(65_536);
  private n = 0;
  count = 0;

  add(ms: number): void {
    if (this.n === this.cur.length) {
      this.chunks.push(this.cur);
      this.cur = new Float64Array(65_536);
      this.n = 0;
    }
    this.cur[this.n++] = ms;
    this.count++;
  }

  sorted(): Float64Array {
    const all = new Float64Array(this.count);
    let o = 0;
    for (const c of this.chunks) {
      all.set(c, o);
      o += c.length;
    }
    all.set(this.cur.subarray(0, this.n), o);
    return all.sort();
  }
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

export function summarise(s: Samples, errors: number, seconds: number): Summary {
  const a = s.sorted();
  let sum = 0;
  for (const v of a) sum += v;
  return {
    requests: a.length,
    errors,
    seconds,
    rps: a.length / seconds,
    meanMs: a.length ? sum / a.length : NaN,
    p50Ms: percentile(a, 50),
    p90Ms: percentile(a, 90),
    p99Ms: percentile(a, 99),
    maxMs: a.length ? a[a.length - 1]! : NaN,
  };
}
