/**
 * The cache of resources/read results for one upstream, for URIs the operator marked cacheable.
 * Entries are public (shared by every caller) or private (keyed by principal), as the upstream's
 * `cacheScope` hint, the link's sharing mode and the configured default say; the TTL is the
 * smaller of the configured one and the upstream's `ttlMs` hint (0: never cached, spec
 * 2026-07-28 server/utilities/caching). Bounded in entries and bytes (least recently used go
 * first); errors and incomplete (`input_required`) results are never stored.
 */
import type { CallOutcome } from '../../mcp/jsonrpc.js';
import type { CompiledReadCache } from './compile.js';

interface Entry {
  outcome: CallOutcome;
  era: 'legacy' | 'modern';
  expiresAt: number;
  bytes: number;
}

export interface CachedRead {
  outcome: CallOutcome;
  era: 'legacy' | 'modern';
}

export class ReadCache {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;

  constructor(
    private cfg: CompiledReadCache,
    private readonly now: () => number = Date.now,
  ) {}

  /** True when reads of this URI may be served from (and stored in) the cache. */
  covers(uri: string): boolean {
    return this.cfg.enabled && this.cfg.ttlMs > 0 && this.cfg.uri(uri);
  }

  get size(): number {
    return this.entries.size;
  }

  get totalBytes(): number {
    return this.bytes;
  }

  /**
   * A fresh entry for this caller: its tenant's public one first, else the caller's private one.
   * Public means shared within a tenant, never across tenants (caches are tenant-scoped).
   */
  get(uri: string, tenant: string, principal: string): CachedRead | undefined {
    return this.take(publicKey(uri, tenant)) ?? this.take(privateKey(uri, principal));
  }

  /**
   * Stores a read result if it may be cached. `privateLink`: the link is not shared, so what it
   * returns may be specific to the caller whatever the hint says.
   */
  put(uri: string, tenant: string, principal: string, era: 'legacy' | 'modern', outcome: CallOutcome, privateLink: boolean): void {
    if (!('result' in outcome)) return;
    const r = outcome.result;
    if (r.resultType !== undefined && r.resultType !== 'complete') return;
    let ttl = this.cfg.ttlMs;
    if (typeof r.ttlMs === 'number' && Number.isFinite(r.ttlMs)) ttl = Math.min(ttl, Math.max(0, r.ttlMs));
    if (ttl <= 0) return;
    const hinted = r.cacheScope === 'public' || r.cacheScope === 'private' ? r.cacheScope : this.cfg.scope;
    const scope = privateLink ? 'private' : hinted;
    let bytes: number;
    try {
      bytes = Buffer.byteLength(JSON.stringify(r));
    } catch {
      return;
    }
    if (bytes > this.cfg.maxEntryBytes || bytes > this.cfg.maxBytes) return;
    const key = scope === 'public' ? publicKey(uri, tenant) : privateKey(uri, principal);
    this.drop(key);
    this.entries.set(key, { outcome, era, expiresAt: this.now() + ttl, bytes });
    this.bytes += bytes;
    for (const k of this.entries.keys()) {
      if (this.entries.size <= this.cfg.maxEntries && this.bytes <= this.cfg.maxBytes) break;
      this.drop(k);
    }
  }

  /**
   * New settings from a config reload: the cache starts empty, since entries stored under the
   * old rules (URIs, TTL, scope, bounds) may not be allowed under the new ones.
   */
  update(cfg: CompiledReadCache): void {
    this.cfg = cfg;
    this.entries.clear();
    this.bytes = 0;
  }

  private take(key: string): CachedRead | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (this.now() >= e.expiresAt) {
      this.drop(key);
      return undefined;
    }
    // Most recently used last, so eviction walks from the oldest.
    this.entries.delete(key);
    this.entries.set(key, e);
    return { outcome: e.outcome, era: e.era };
  }

  private drop(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    this.bytes -= e.bytes;
  }
}

// JSON keeps the parts apart whatever characters a subject or URI contains.
const publicKey = (uri: string, tenant: string): string => JSON.stringify(['p', tenant, uri]);
const privateKey = (uri: string, principal: string): string => JSON.stringify(['u', principal, uri]);
