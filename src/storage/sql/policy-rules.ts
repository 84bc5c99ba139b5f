/** PolicyRuleStore over any Kysely dialect whose schema came from src/storage/migrations. */
import type { Kysely } from 'kysely';
import { GatewayError } from '../../pipeline/errors.js';
import { POLICY_RULE_MAX_BYTES, type PolicyRuleRecord, type PolicyRuleStore } from '../ports.js';
import { fromIso, toIso, type Lifecycle } from '../values.js';
import type { StorageDb } from './schema.js';

/** The `list()` order every backend shares: createdAt, then tenant, then id (code unit order). */
export function comparePolicyRules(a: PolicyRuleRecord, b: PolicyRuleRecord): number {
  const d = a.createdAt.getTime() - b.createdAt.getTime();
  if (d !== 0) return d;
  if (a.tenant !== b.tenant) return a.tenant < b.tenant ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** SQL-backed rule table, primary key (tenant, id). */
export class SqlPolicyRuleStore implements PolicyRuleStore {
  constructor(
    private readonly db: Kysely<StorageDb>,
    private readonly life: Lifecycle,
  ) {}

  async create(r: PolicyRuleRecord): Promise<void> {
    this.life.assertOpen();
    const row = { tenant: r.tenant, id: r.id, rule: r.rule, created_at: toIso(r.createdAt, 'createdAt') };
    if (Buffer.byteLength(r.rule, 'utf8') > POLICY_RULE_MAX_BYTES) throw new GatewayError('ERR_BAD_INPUT', 'storage: policy rule too long');
    const res = await this.db
      .insertInto('policy_rules')
      .values(row)
      .onConflict((oc) => oc.columns(['tenant', 'id']).doNothing())
      .executeTakeFirst();
    if (Number(res.numInsertedOrUpdatedRows ?? 0n) === 0) {
      throw new GatewayError('ERR_CONFLICT', 'storage: a policy rule with this id exists', { detail: { id: r.id } });
    }
  }

  async get(tenant: string, id: string): Promise<PolicyRuleRecord | undefined> {
    this.life.assertOpen();
    const row = await this.db.selectFrom('policy_rules').selectAll().where('tenant', '=', tenant).where('id', '=', id).executeTakeFirst();
    return row ? { id: row.id, tenant: row.tenant, rule: row.rule, createdAt: fromIso(row.created_at, 'created_at') } : undefined;
  }

  async list(tenant?: string): Promise<PolicyRuleRecord[]> {
    this.life.assertOpen();
    let q = this.db.selectFrom('policy_rules').selectAll();
    if (tenant !== undefined) q = q.where('tenant', '=', tenant);
    const rows = await q.execute();
    // Sorted here, not in SQL: collations differ between SQLite and PostgreSQL locales.
    return rows.map((row) => ({ id: row.id, tenant: row.tenant, rule: row.rule, createdAt: fromIso(row.created_at, 'created_at') })).sort(comparePolicyRules);
  }

  async delete(tenant: string, id: string): Promise<boolean> {
    this.life.assertOpen();
    const res = await this.db.deleteFrom('policy_rules').where('tenant', '=', tenant).where('id', '=', id).executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }
}
