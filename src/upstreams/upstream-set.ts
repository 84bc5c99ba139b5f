/**
 * The set of running upstreams, reconciled against each new snapshot: new entries start,
 * removed ones stop (their children reaped), changed ones (by config fingerprint) are replaced,
 * unchanged ones keep running untouched.
 */
import type { Snapshot } from '../config/compile.js';
import type { Logger } from '../observability/logger.js';
import type { Store } from '../storage/ports.js';
import { UpstreamManager, type ManagerEvents } from './manager.js';
import type { LinkDeps } from './open-link.js';

export class UpstreamSet {
  private readonly managers = new Map<string, UpstreamManager>();

  constructor(
    private readonly log: Logger,
    private readonly store: Store,
    private readonly events: ManagerEvents,
    private readonly linkDeps?: LinkDeps,
  ) {}

  get(name: string): UpstreamManager | undefined {
    return this.managers.get(name);
  }

  all(): UpstreamManager[] {
    return [...this.managers.values()];
  }

  reconcile(snap: Snapshot): Promise<void> {
    const wanted = new Map(snap.upstreams.map((u) => [u.name, u]));
    const stopping: Promise<void>[] = [];
    for (const [name, m] of this.managers) {
      const next = wanted.get(name);
      if (!next || next.fingerprint !== m.cfg.fingerprint) {
        this.managers.delete(name);
        stopping.push(m.stop());
        this.log.info({ upstream: name, reason: next ? 'changed' : 'removed' }, 'upstream.stopping');
      }
    }
    for (const [name, cfg] of wanted) {
      if (this.managers.has(name)) continue;
      const m = new UpstreamManager(cfg, this.log, this.store, this.events, snap.gateway.limits.maxUpstreamMessageBytes, this.linkDeps);
      this.managers.set(name, m);
      m.start();
    }
    this.events.onCatalogChange();
    return Promise.allSettled(stopping).then(() => undefined);
  }

  releaseSession(sessionId: string, subscriptions: Iterable<string>): void {
    const subs = [...subscriptions];
    for (const m of this.managers.values()) {
      m.releaseSession(sessionId);
      if (subs.length) m.dropInterest(subs);
    }
  }

  async stopAll(): Promise<void> {
    const all = [...this.managers.values()];
    this.managers.clear();
    await Promise.allSettled(all.map((m) => m.stop()));
  }
}
