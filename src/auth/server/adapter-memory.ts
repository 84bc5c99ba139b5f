/**
 * In-memory storage for oidc-provider (sessions, interactions, grants, codes, tokens, registered
 * clients). Bounded: each model keeps at most a fixed number of entries; expired entries go first,
 * then the least recently written. Nothing survives a restart (the scope: persistence is
 * a later adapter over the storage ports).
 */
import type { Adapter, AdapterFactory, AdapterPayload } from 'oidc-provider';

interface Entry {
  payload: AdapterPayload;
  /** epoch ms; undefined: no expiry (registered clients). */
  expiresAt?: number;
}

/** One model's entries plus the indexes oidc-provider looks things up by. */
class ModelTable {
  readonly entries = new Map<string, Entry>();
  readonly byGrant = new Map<string, Set<string>>();
  readonly byUid = new Map<string, string>();
  readonly byUserCode = new Map<string, string>();

  unindex(id: string, e: Entry): void {
    const { grantId, uid, userCode } = e.payload;
    if (typeof grantId === 'string') {
      const s = this.byGrant.get(grantId);
      s?.delete(id);
      if (s?.size === 0) this.byGrant.delete(grantId);
    }
    if (typeof uid === 'string' && this.byUid.get(uid) === id) this.byUid.delete(uid);
    if (typeof userCode === 'string' && this.byUserCode.get(userCode) === id) this.byUserCode.delete(userCode);
  }

  index(id: string, e: Entry): void {
    const { grantId, uid, userCode } = e.payload;
    if (typeof grantId === 'string') {
      let s = this.byGrant.get(grantId);
      if (!s) this.byGrant.set(grantId, (s = new Set()));
      s.add(id);
    }
    if (typeof uid === 'string') this.byUid.set(uid, id);
    if (typeof userCode === 'string') this.byUserCode.set(userCode, id);
  }

  remove(id: string): void {
    const e = this.entries.get(id);
    if (!e) return;
    this.unindex(id, e);
    this.entries.delete(id);
  }
}

/** Caps of the memory store. */
export interface MemoryAdapterLimits {
  /** Most entries per model (sessions, grants, tokens, …). */
  maxEntriesPerModel: number;
  /** Most dynamically registered clients (kept apart so a registration flood cannot evict sessions). */
  maxClients: number;
}

export const DEFAULT_MEMORY_LIMITS: MemoryAdapterLimits = { maxEntriesPerModel: 50_000, maxClients: 10_000 };

/** The shared store behind every model's adapter; survives provider rebuilds (key rotation). */
export class MemoryAdapterStore {
  private readonly tables = new Map<string, ModelTable>();
  private evictions = 0;

  constructor(
    private readonly limits: MemoryAdapterLimits = DEFAULT_MEMORY_LIMITS,
    private readonly onEvict: (model: string, total: number) => void = () => undefined,
    private readonly now: () => number = Date.now,
  ) {}

  /** The factory to pass as oidc-provider's `adapter`. */
  factory(): AdapterFactory {
    return (name: string) => new MemoryAdapter(this, name);
  }

  /** Entries currently held for a model (expired ones included until swept). */
  size(model: string): number {
    return this.tables.get(model)?.entries.size ?? 0;
  }

  table(model: string): ModelTable {
    let t = this.tables.get(model);
    if (!t) this.tables.set(model, (t = new ModelTable()));
    return t;
  }

  /** The live entry, or undefined (an expired entry is removed on the way). */
  live(model: string, id: string): Entry | undefined {
    const t = this.table(model);
    const e = t.entries.get(id);
    if (!e) return undefined;
    if (e.expiresAt !== undefined && e.expiresAt <= this.now()) {
      t.remove(id);
      return undefined;
    }
    return e;
  }

  put(model: string, id: string, payload: AdapterPayload, expiresInSec?: number): void {
    const t = this.table(model);
    t.remove(id); // re-inserting moves the entry to the young end of the eviction order
    const e: Entry = { payload: structuredClone(payload) };
    if (typeof expiresInSec === 'number' && Number.isFinite(expiresInSec)) e.expiresAt = this.now() + expiresInSec * 1000;
    t.entries.set(id, e);
    t.index(id, e);
    const cap = model === 'Client' ? this.limits.maxClients : this.limits.maxEntriesPerModel;
    if (t.entries.size > cap) this.shrink(model, t, cap);
  }

  private shrink(model: string, t: ModelTable, cap: number): void {
    const now = this.now();
    for (const [id, e] of t.entries) {
      if (e.expiresAt !== undefined && e.expiresAt <= now) t.remove(id);
    }
    // Bounded: each pass removes one entry and the table is at most cap + 1 entries long.
    while (t.entries.size > cap) {
      const oldest = t.entries.keys().next();
      if (oldest.done) break;
      t.remove(oldest.value);
      this.evictions += 1;
      this.onEvict(model, this.evictions);
    }
  }
}

class MemoryAdapter implements Adapter {
  constructor(
    private readonly store: MemoryAdapterStore,
    private readonly model: string,
  ) {}

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    this.store.put(this.model, id, payload, expiresIn);
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    const e = this.store.live(this.model, id);
    return e ? structuredClone(e.payload) : undefined;
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    const id = this.store.table(this.model).byUid.get(uid);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    const id = this.store.table(this.model).byUserCode.get(userCode);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id: string): Promise<void> {
    const e = this.store.live(this.model, id);
    if (e) e.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id: string): Promise<void> {
    this.store.table(this.model).remove(id);
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    const t = this.store.table(this.model);
    const ids = t.byGrant.get(grantId);
    if (!ids) return;
    for (const id of [...ids]) t.remove(id);
  }
}
