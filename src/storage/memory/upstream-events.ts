/**
 * In-memory UpstreamEventStore, bounded at RECENT_EVENTS_MAX events per upstream so a flapping
 * upstream cannot grow the heap without limit; the oldest (by `at`) are dropped first.
 */
import { RECENT_EVENTS_MAX, type UpstreamEvent, type UpstreamEventStore } from '../ports.js';
import { clampLimit, toMs, type Lifecycle } from '../values.js';

interface Row {
  atMs: number;
  seq: number;
  state: UpstreamEvent['state'];
  reason: string | undefined;
}

/** Volatile event history; `recent` and `prune` behave exactly as the SQL backends do. */
export class MemoryUpstreamEventStore implements UpstreamEventStore {
  // Rows per upstream kept sorted ascending by (atMs, seq); seq breaks ties in append order.
  readonly #byUpstream = new Map<string, Row[]>();
  #seq = 0;

  constructor(private readonly life: Lifecycle) {}

  async append(e: UpstreamEvent): Promise<void> {
    this.life.assertOpen();
    const row: Row = { atMs: toMs(e.at, 'at'), seq: ++this.#seq, state: e.state, reason: e.reason };
    let rows = this.#byUpstream.get(e.upstream);
    if (!rows) this.#byUpstream.set(e.upstream, (rows = []));
    // Events nearly always arrive in time order, so scanning back from the end is short.
    let i = rows.length;
    while (i > 0 && rows[i - 1]!.atMs > row.atMs) i--;
    rows.splice(i, 0, row);
    if (rows.length > RECENT_EVENTS_MAX) rows.splice(0, rows.length - RECENT_EVENTS_MAX);
  }

  async recent(upstream: string, limit: number): Promise<UpstreamEvent[]> {
    this.life.assertOpen();
    const rows = this.#byUpstream.get(upstream) ?? [];
    const n = clampLimit(limit);
    const out: UpstreamEvent[] = [];
    for (let i = rows.length - 1; i >= 0 && out.length < n; i--) {
      const r = rows[i]!;
      const e: UpstreamEvent = { upstream, at: new Date(r.atMs), state: r.state };
      if (r.reason !== undefined) e.reason = r.reason;
      out.push(e);
    }
    return out;
  }

  async prune(olderThan: Date): Promise<number> {
    this.life.assertOpen();
    const cutoff = toMs(olderThan, 'olderThan');
    let removed = 0;
    for (const [upstream, rows] of this.#byUpstream) {
      // Sorted ascending, so everything to drop is a prefix.
      let k = 0;
      while (k < rows.length && rows[k]!.atMs < cutoff) k++;
      if (k === 0) continue;
      removed += k;
      if (k === rows.length) this.#byUpstream.delete(upstream);
      else rows.splice(0, k);
    }
    return removed;
  }
}
