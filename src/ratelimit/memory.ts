/**
 * In-process counters: token buckets and fixed-window quotas in two Maps. Synchronous on
 * purpose (no Promise per call): a check is a few Map lookups and some arithmetic.
 */
import type { CompiledRule } from '../stages/rate-limit/compile.js';
import { worse, type CounterStore, type Refusal } from './verdict.js';

interface Bucket {
  tokens: number;
  at: number;
  /** When the bucket is full again: after that, forgetting it changes nothing. */
  fullAt: number;
}

interface Window {
  window: number;
  used: number;
  endsAt: number;
}

/** Past this many keys a sweep runs at once; if it frees too little, the oldest keys go (logged by the caller). */
export const MAX_KEYS = 200_000;

export class MemoryCounters implements CounterStore {
  readonly buckets = new Map<string, Bucket>();
  readonly windows = new Map<string, Window>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly now: () => number = Date.now,
    private readonly onEvict: (n: number) => void = () => undefined,
    sweepEveryMs = 60_000,
  ) {
    this.timer = setInterval(() => this.sweep(), sweepEveryMs);
    this.timer.unref();
  }

  take(rules: readonly CompiledRule[], keys: readonly string[], cost: number): Refusal | undefined {
    const now = this.now();
    let refusal: Refusal | undefined;
    // Check every rule first and consume only when all have room: a refused call takes nothing.
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i]!;
      const key = keys[i]!;
      const rate = rule.rate;
      if (rate) {
        let b = this.buckets.get(key);
        if (!b) {
          b = { tokens: rate.capacity, at: now, fullAt: now };
          this.buckets.set(key, b);
        } else if (now > b.at) {
          b.tokens = Math.min(rate.capacity, b.tokens + (now - b.at) / rate.msPerToken);
          b.at = now;
        }
        // A call dearer than the whole bucket passes when the bucket is full and leaves it in debt.
        const need = Math.min(cost, rate.capacity);
        if (b.tokens < need) refusal = worse(refusal, 'rate', rule.name, (need - b.tokens) * rate.msPerToken);
      }
      const quota = rule.quota;
      if (quota) {
        const w = Math.floor(now / quota.windowMs);
        const q = this.windows.get(key);
        const used = q && q.window === w ? q.used : 0;
        if (used + cost > quota.limit) refusal = worse(refusal, 'quota', rule.name, (w + 1) * quota.windowMs - now);
      }
    }
    if (refusal) return refusal;
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i]!;
      const key = keys[i]!;
      if (rule.rate) {
        const b = this.buckets.get(key)!;
        b.tokens -= cost;
        b.fullAt = now + (rule.rate.capacity - b.tokens) * rule.rate.msPerToken;
      }
      if (rule.quota) {
        const w = Math.floor(now / rule.quota.windowMs);
        const q = this.windows.get(key);
        if (q && q.window === w) q.used += cost;
        else this.windows.set(key, { window: w, used: cost, endsAt: (w + 1) * rule.quota.windowMs });
      }
    }
    if (this.buckets.size > MAX_KEYS || this.windows.size > MAX_KEYS) this.sweep();
    return undefined;
  }

  /** Forgets full buckets and ended windows; then, if still too many, the oldest keys. */
  sweep(): void {
    const now = this.now();
    for (const [k, b] of this.buckets) if (b.fullAt <= now) this.buckets.delete(k);
    for (const [k, q] of this.windows) if (q.endsAt <= now) this.windows.delete(k);
    let evicted = 0;
    for (const map of [this.buckets, this.windows] as Map<string, unknown>[]) {
      // Keep headroom so a flood of new keys does not sweep on every call.
      const target = Math.floor(MAX_KEYS * 0.9);
      if (map.size <= MAX_KEYS) continue;
      for (const k of map.keys()) {
        if (map.size <= target) break;
        map.delete(k);
        evicted++;
      }
    }
    if (evicted > 0) this.onEvict(evicted);
  }

  close(): Promise<void> {
    clearInterval(this.timer);
    return Promise.resolve();
  }
}
