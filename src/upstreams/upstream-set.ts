/**
 * The set of running upstreams, reconciled against each new snapshot: new entries start,
 * removed ones stop (their children reaped), unchanged ones keep running untouched. A changed
 * entry is compared field by field (`upstreamChange`, config/compile.ts): when only settings of
 * how the gateway treats calls changed (timeouts, resilience, prefix, tags, restart, idle and
 * lifetime policies) the running upstream takes them in place, its processes and connections
 * kept; when anything that spawns, connects or authenticates the link changed (command, args,
 * cwd, env, url, headers, auth, era, sharing, tenant, …) it is replaced. A replaced or removed
 * upstream finishes its calls in flight before it stops; new calls go to the replacement at once.
 */
import { upstreamChange, type Snapshot } from '../config/compile.js';
import type { Logger } from '../observability/logger.js';
import type { Store } from '../storage/ports.js';
import { UpstreamManager, type ManagerEvents } from './manager.js';
import type { LinkDeps } from './open-link.js';

/** Longest a replaced upstream waits for its calls: their own total deadline, within bounds. */
const DRAIN_MAX_MS = 10 * 60_000;
const drainMs = (m: UpstreamManager): number => {
  const total = m.cfg.timeouts.totalMs;
  return total > 0 ? Math.min(total, DRAIN_MAX_MS) : DRAIN_MAX_MS;
};

export class UpstreamSet {
  private readonly managers = new Map<string, UpstreamManager>();
  /** Managers replaced or removed by a reload, still finishing their calls in flight. */
  private readonly draining = new Set<UpstreamManager>();

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
    const limit = snap.gateway.limits.maxUpstreamMessageBytes;
    const stopping: Promise<void>[] = [];
    for (const [name, m] of this.managers) {
      const next = wanted.get(name);
      // The gateway-wide message limit is baked into an HTTP link when it opens (stdio links use
      // their own maxLineBytes): a new limit reaches an HTTP upstream only by replacing it.
      const limitChanged = next !== undefined && next.kind !== 'stdio' && m.maxMessageBytes !== limit;
      const change = next ? upstreamChange(m.cfg, next).action : 'remove';
      const action = limitChanged ? 'replace' : change;
      if (next && action !== 'replace') {
        // Unchanged, or settings only: the running upstream (its processes, sessions and state)
        // stays and reads the new snapshot's entry from now on.
        const fields = m.update(next);
        if (action === 'update') this.log.info({ upstream: name, fields }, 'upstream.updated');
      } else {
        this.managers.delete(name);
        // Its calls in flight finish first (up to their own deadline), as on a max-lifetime
        // recycle: an edit to the config must not fail the calls it finds running.
        this.draining.add(m);
        stopping.push(m.retire(drainMs(m)).finally(() => this.draining.delete(m)));
        this.log.info({ upstream: name, reason: !next ? 'removed' : change === 'replace' ? 'changed' : 'limits.maxUpstreamMessageBytes changed', inFlight: m.inFlight }, 'upstream.stopping');
      }
    }
    for (const [name, cfg] of wanted) {
      if (this.managers.has(name)) continue;
      const m = new UpstreamManager(cfg, this.log, this.store, this.events, limit, this.linkDeps);
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

  /** Stops every upstream, including those still draining after a reload. */
  async stopAll(): Promise<void> {
    const all = [...this.managers.values(), ...this.draining];
    this.managers.clear();
    await Promise.allSettled(all.map((m) => m.stop()));
  }
}
