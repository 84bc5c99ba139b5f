/** In-memory PolicyRuleStore: one map by (tenant, id); `list` sorts on demand (admin path). */
import { GatewayError } from '../../pipeline/errors.js';
import { POLICY_RULE_MAX_BYTES, type PolicyRuleRecord, type PolicyRuleStore } from '../ports.js';
import { toMs, type Lifecycle } from '../values.js';
import { comparePolicyRules } from '../sql/policy-rules.js';

interface Row {
  id: string;
  tenant: string;
  rule: string;
  createdAtMs: number;
}

const keyOf = (tenant: string, id: string): string => `${tenant}\u0000${id}`;
const copyOut = (r: Row): PolicyRuleRecord => ({ id: r.id, tenant: r.tenant, rule: r.rule, createdAt: new Date(r.createdAtMs) });

/** Volatile rule table; behaves exactly as the SQL backends do. */
export class MemoryPolicyRuleStore implements PolicyRuleStore {
  readonly #rows = new Map<string, Row>();

  constructor(private readonly life: Lifecycle) {}

  async create(r: PolicyRuleRecord): Promise<void> {
    this.life.assertOpen();
    const row: Row = { id: r.id, tenant: r.tenant, rule: r.rule, createdAtMs: toMs(r.createdAt, 'createdAt') };
    if (Buffer.byteLength(r.rule, 'utf8') > POLICY_RULE_MAX_BYTES) throw new GatewayError('ERR_BAD_INPUT', 'storage: policy rule too long');
    const k = keyOf(r.tenant, r.id);
    if (this.#rows.has(k)) throw new GatewayError('ERR_CONFLICT', 'storage: a policy rule with this id exists', { detail: { id: r.id } });
    this.#rows.set(k, row);
  }

  async get(tenant: string, id: string): Promise<PolicyRuleRecord | undefined> {
    this.life.assertOpen();
    const row = this.#rows.get(keyOf(tenant, id));
    return row ? copyOut(row) : undefined;
  }

  async list(tenant?: string): Promise<PolicyRuleRecord[]> {
    this.life.assertOpen();
    return [...this.#rows.values()]
      .filter((r) => tenant === undefined || r.tenant === tenant)
      .map(copyOut)
      .sort(comparePolicyRules);
  }

  async delete(tenant: string, id: string): Promise<boolean> {
    this.life.assertOpen();
    return this.#rows.delete(keyOf(tenant, id));
  }
}
