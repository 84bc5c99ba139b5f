/** UpstreamEventStore over any Kysely dialect whose schema came from src/storage/migrations. */
import type { Kysely } from 'kysely';
import { GatewayError } from '../../pipeline/errors.js';
import type { UpstreamEvent, UpstreamEventStore, UpstreamState } from '../ports.js';
import { clampLimit, fromIso, toIso, type Lifecycle } from '../values.js';
import type { StorageDb } from './schema.js';

const STATES: ReadonlySet<string> = new Set<UpstreamState>(['healthy', 'unhealthy', 'starting', 'stopped']);

/** SQL-backed event history; unbounded except by `prune`, which the caller schedules. */
export class SqlUpstreamEventStore implements UpstreamEventStore {
  constructor(
    private readonly db: Kysely<StorageDb>,
    private readonly life: Lifecycle,
  ) {}

  async append(e: UpstreamEvent): Promise<void> {
    this.life.assertOpen();
    const row = { upstream: e.upstream, at: toIso(e.at, 'at'), state: e.state, reason: e.reason ?? null };
    await this.db.insertInto('upstream_events').values(row).execute();
  }

  async recent(upstream: string, limit: number): Promise<UpstreamEvent[]> {
    this.life.assertOpen();
    const n = clampLimit(limit);
    if (n === 0) return [];
    const rows = await this.db
      .selectFrom('upstream_events')
      .select(['at', 'state', 'reason'])
      .where('upstream', '=', upstream)
      .orderBy('at', 'desc')
      .orderBy('id', 'desc')
      .limit(n)
      .execute();
    return rows.map((r) => {
      if (!STATES.has(r.state)) throw new GatewayError('ERR_INTERNAL', 'storage: bad stored state');
      const e: UpstreamEvent = { upstream, at: fromIso(r.at, 'at'), state: r.state as UpstreamState };
      if (r.reason !== null) e.reason = r.reason;
      return e;
    });
  }

  async prune(olderThan: Date): Promise<number> {
    this.life.assertOpen();
    const res = await this.db.deleteFrom('upstream_events').where('at', '<', toIso(olderThan, 'olderThan')).executeTakeFirst();
    return Number(res.numDeletedRows);
  }
}
