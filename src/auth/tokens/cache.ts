/**
 * Cache of successful verifications, so a client's repeated calls cost one hash and one map
 * lookup. Keys are the SHA-256 of the token (the token itself is never stored), entries expire
 * at the earlier of the token's own expiry and `maxTtlMs` after caching, and the map is a bounded
 * LRU (a Map keeps insertion order: a hit is re-inserted at the end, the first key is the oldest).
 */
import { createHash } from 'node:crypto';

/** The cache key of a token: its SHA-256, base64url. Also safe to log (a prefix of it). */
export function tokenKey(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/** Bounds of the verified-token cache. */
export interface TokenCacheOptions {
  /** Most entries kept (default 10,000). */
  maxEntries?: number;
  /** Longest time an entry is served (default 5 min), whatever the token's expiry. */
  maxTtlMs?: number;
}

interface Entry<V> {
  value: V;
  expiresAt: number;
}

/** A bounded, expiring LRU keyed by token hash. O(1) per operation. */
export class TokenCache<V> {
  readonly #map = new Map<string, Entry<V>>();
  readonly #max: number;
  readonly #maxTtl: number;

  constructor(opts: TokenCacheOptions = {}) {
    this.#max = opts.maxEntries ?? 10_000;
    this.#maxTtl = opts.maxTtlMs ?? 5 * 60_000;
    if (!Number.isSafeInteger(this.#max) || this.#max < 0) throw new RangeError('maxEntries must be a non-negative integer');
  }

  /** The live value under `key`, or undefined (an expired entry is removed). */
  get(key: string, now: number): V | undefined {
    const e = this.#map.get(key);
    if (e === undefined) return undefined;
    this.#map.delete(key);
    if (e.expiresAt <= now) return undefined;
    this.#map.set(key, e);
    return e.value;
  }

  /** Stores a verified result until min(`expiresAt`, now + maxTtl); ignores one already expired. */
  set(key: string, value: V, expiresAt: number, now: number): void {
    const until = Math.min(expiresAt, now + this.#maxTtl);
    if (!(until > now) || this.#max === 0) return;
    this.#map.delete(key);
    if (this.#map.size >= this.#max) {
      const oldest = this.#map.keys().next();
      if (!oldest.done) this.#map.delete(oldest.value);
    }
    this.#map.set(key, { value, expiresAt: until });
  }

  /** Forgets one entry (e.g. on revocation). */
  delete(key: string): void {
    this.#map.delete(key);
  }

  clear(): void {
    this.#map.clear();
  }

  get size(): number {
    return this.#map.size;
  }
}
