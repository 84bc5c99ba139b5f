/** EraVerdictStore over any Kysely dialect whose schema came from src/storage/migrations. */
import type { Kysely, Selectable } from 'kysely';
import { GatewayError } from '../../pipeline/errors.js';
import type { EraVerdict, EraVerdictStore } from '../ports.js';
import { compareVerdicts, fromIso, toIso, type Lifecycle } from '../values.js';
import type { EraVerdictsTable, StorageDb } from './schema.js';

function fromRow(r: Selectable<EraVerdictsTable>): EraVerdict {
  if (r.transport !== 'streamable-http' && r.transport !== 'sse') throw new GatewayError('ERR_INTERNAL', 'storage: bad stored transport');
  if (r.era !== 'legacy' && r.era !== 'modern') throw new GatewayError('ERR_INTERNAL', 'storage: bad stored era');
  return {
    upstream: r.upstream,
    authContext: r.auth_context,
    transport: r.transport,
    era: r.era,
    protocolVersion: r.protocol_version,
    probedAt: fromIso(r.probed_at, 'probed_at'),
  };
}

/** SQL-backed verdict cache; upserts with ON CONFLICT so parallel puts of one key cannot collide. */
export class SqlEraVerdictStore implements EraVerdictStore {
  constructor(
    private readonly db: Kysely<StorageDb>,
    private readonly life: Lifecycle,
  ) {}

  async get(upstream: string, authContext: string): Promise<EraVerdict | undefined> {
    this.life.assertOpen();
    const row = await this.db
      .selectFrom('era_verdicts')
      .selectAll()
      .where('upstream', '=', upstream)
      .where('auth_context', '=', authContext)
      .executeTakeFirst();
    return row ? fromRow(row) : undefined;
  }

  async put(v: EraVerdict): Promise<void> {
    this.life.assertOpen();
    const fields = { transport: v.transport, era: v.era, protocol_version: v.protocolVersion, probed_at: toIso(v.probedAt, 'probedAt') };
    await this.db
      .insertInto('era_verdicts')
      .values({ upstream: v.upstream, auth_context: v.authContext, ...fields })
      .onConflict((oc) => oc.columns(['upstream', 'auth_context']).doUpdateSet(fields))
      .execute();
  }

  async delete(upstream: string, authContext?: string): Promise<void> {
    this.life.assertOpen();
    let q = this.db.deleteFrom('era_verdicts').where('upstream', '=', upstream);
    if (authContext !== undefined) q = q.where('auth_context', '=', authContext);
    await q.execute();
  }

  async list(): Promise<EraVerdict[]> {
    this.life.assertOpen();
    const rows = await this.db.selectFrom('era_verdicts').selectAll().execute();
    // Sorted here, not in SQL: collations differ between SQLite and PostgreSQL locales.
    return rows.map(fromRow).sort(compareVerdicts);
  }
}
