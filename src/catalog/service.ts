/**
 * Keeps the current Catalog: rebuilt (coalesced) whenever an upstream's lists or health change,
 * from the healthy upstreams only, in config order so names are deterministic.
 */
import type { SnapshotHolder } from '../config/holder.js';
import type { Logger } from '../observability/logger.js';
import type { UpstreamSet } from '../upstreams/upstream-set.js';
import { Catalog, type UpstreamPart } from './catalog.js';
import type { ListKind } from '../upstreams/manager.js';

/** Upstream name → lists it announced as changed since the last rebuild. */
export type Announced = ReadonlyMap<string, ReadonlySet<ListKind>>;

export class CatalogService {
  current: Catalog = Catalog.empty();
  private version = 0;
  private scheduled = false;
  private readonly listeners: ((next: Catalog, prev: Catalog, announced: Announced) => void)[] = [];
  private announced = new Map<string, Set<ListKind>>();

  constructor(
    private readonly holder: SnapshotHolder,
    private readonly upstreams: () => UpstreamSet,
    private readonly log: Logger,
  ) {}

  onChange(cb: (next: Catalog, prev: Catalog, announced: Announced) => void): void {
    this.listeners.push(cb);
  }

  /** Coalesces bursts (several upstreams reconnecting at once) into one rebuild. */
  schedule(announced?: { upstream: string; kinds: ListKind[] }): void {
    if (announced) {
      const set = this.announced.get(announced.upstream) ?? new Set<ListKind>();
      for (const k of announced.kinds) set.add(k);
      this.announced.set(announced.upstream, set);
    }
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.rebuild();
    });
  }

  rebuild(): void {
    const snap = this.holder.current;
    const parts: UpstreamPart[] = [];
    for (const cfg of snap.upstreams) {
      const m = this.upstreams().get(cfg.name);
      if (!m || m.health !== 'healthy' || !m.lists || !m.info) continue;
      parts.push({ name: cfg.name, prefix: cfg.prefix, tags: cfg.tags, tenant: cfg.tenant, shareWith: cfg.shareWith, lists: m.lists, capabilities: m.info.capabilities });
    }
    const prev = this.current;
    this.current = Catalog.build(++this.version, parts, snap.gateway.separator);
    for (const c of this.current.collisions) this.log.warn({ ...c }, 'catalog.name_collision');
    const announced = this.announced;
    this.announced = new Map();
    for (const cb of this.listeners) cb(this.current, prev, announced);
  }
}
