/**
 * Small bounded in-memory maps for the authorization server's per-process state: CSRF tokens,
 * failed-login counters, remembered consents. Every entry expires, and a full map drops its
 * oldest entry, so no client can grow them without bound.
 */

/** A Map with a per-entry lifetime and a maximum size (oldest written entry evicted first). */
export class TtlMap<V> {
  private readonly m = new Map<string, { v: V; exp: number }>();

  constructor(
    private readonly maxEntries: number,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get(k: string): V | undefined {
    const e = this.m.get(k);
    if (!e) return undefined;
    if (e.exp <= this.now()) {
      this.m.delete(k);
      return undefined;
    }
    return e.v;
  }

  set(k: string, v: V, ttlMs: number = this.ttlMs): void {
    this.m.delete(k);
    this.m.set(k, { v, exp: this.now() + ttlMs });
    if (this.m.size > this.maxEntries) this.shrink();
  }

  delete(k: string): void {
    this.m.delete(k);
  }

  get size(): number {
    return this.m.size;
  }

  private shrink(): void {
    const now = this.now();
    for (const [k, e] of this.m) if (e.exp <= now) this.m.delete(k);
    // Bounded: the map holds at most maxEntries + 1 entries here.
    while (this.m.size > this.maxEntries) {
      const first = this.m.keys().next();
      if (first.done) break;
      this.m.delete(first.value);
    }
  }
}

/**
 * Counts failures per key in a fixed window: after `maxFailures` failures the key is blocked
 * until the window that started with its first failure ends.
 */
export class AttemptLimiter {
  private readonly failures: TtlMap<{ count: number }>;

  constructor(
    private readonly maxFailures: number,
    windowMs: number,
    maxKeys: number,
    now: () => number = Date.now,
  ) {
    this.failures = new TtlMap(maxKeys, windowMs, now);
  }

  blocked(key: string): boolean {
    const f = this.failures.get(key);
    return f !== undefined && f.count >= this.maxFailures;
  }

  fail(key: string): void {
    const f = this.failures.get(key);
    if (f) {
      f.count += 1;
      return;
    }
    this.failures.set(key, { count: 1 });
  }

  reset(key: string): void {
    this.failures.delete(key);
  }
}
