/**
 * The runtime side of policy: rules added through the admin API (kept in the store, compiled in
 * memory) and the engine for the current (snapshot, stored-rule version). A change bumps the
 * version, so the next request of any open session or stream sees it; nothing restarts.
 */
import type { Snapshot } from '../config/compile.js';
import type { Logger } from '../observability/logger.js';
import { GatewayError } from '../pipeline/errors.js';
import type { PolicyRuleRecord, PolicyRuleStore } from '../storage/ports.js';
import { compileRule, type CompiledRule } from './compile.js';
import { PolicyRule, type PolicyRuleT } from './config.js';
import { PolicyEngine } from './engine.js';

/** Most rules one tenant may add through the admin API. */
export const MAX_STORED_RULES_PER_TENANT = 1000;

/** A validated, tenant-bound stored rule and its compiled form. */
interface StoredRule {
  record: PolicyRuleRecord;
  rule: PolicyRuleT;
  compiled: CompiledRule;
}

// Fails closed while the store has not been read yet (or could not be): nothing is allowed.
const LOADING = compileRule({ id: 'policy-store-loading', effect: 'deny', mode: 'enforce', reason: 'Policy rules are still loading' }, 'store', -1, [], () => undefined);

/**
 * Validates an admin-API rule body with the config schema and CEL compiler, bound to `tenant`
 * (its `tenants` is forced to the caller's tenant). Throws ERR_BAD_INPUT naming every problem.
 */
export function parseTenantRule(tenant: string, body: unknown, order = 0): { rule: PolicyRuleT; compiled: CompiledRule } {
  const forced = body !== null && typeof body === 'object' && !Array.isArray(body) ? { ...(body as Record<string, unknown>), tenants: [tenant] } : body;
  const parsed = PolicyRule.safeParse(forced);
  if (!parsed.success) {
    const msg = parsed.error.issues.map((i) => `${i.path.join('.') || '(rule)'}: ${i.message}`).join('; ');
    throw new GatewayError('ERR_BAD_INPUT', `Invalid rule: ${msg.slice(0, 1000)}`);
  }
  const problems: string[] = [];
  const compiled = compileRule(parsed.data, 'store', order, [], (path, message) => problems.push(`${path.join('.')}: ${message}`));
  if (problems.length > 0) throw new GatewayError('ERR_BAD_INPUT', `Invalid rule: ${problems.join('; ').slice(0, 1000)}`);
  return { rule: parsed.data, compiled };
}

/** Stored rules plus the engine cache. */
export class PolicyService {
  #stored: StoredRule[] = [];
  #version = 0;
  #loaded = false;
  #cache: { snapshot: Snapshot; version: number; engine: PolicyEngine } | undefined;
  readonly #listeners = new Set<(tenant: string | undefined) => void>();

  constructor(
    private readonly store: PolicyRuleStore | undefined,
    private readonly log: Logger,
  ) {
    if (!store) this.#loaded = true;
  }

  /** Called after stored rules change, with the tenant whose rules changed (undefined: any). */
  onChange(cb: (tenant: string | undefined) => void): void {
    this.#listeners.add(cb);
  }

  #changed(tenant: string | undefined): void {
    this.#version++;
    for (const cb of this.#listeners) cb(tenant);
  }

  /** Bumped on every stored-rule change. */
  get version(): number {
    return this.#version;
  }

  /** Reads every stored rule (at start, or to pick up another replica's changes). */
  async load(): Promise<void> {
    if (!this.store) return;
    try {
      const records = await this.store.list();
      this.#stored = records.map((record, i) => this.#revive(record, i));
      this.#loaded = true;
      this.#changed(undefined);
    } catch (e) {
      this.log.error({ err: e }, 'policy.store_load_failed');
    }
  }

  #revive(record: PolicyRuleRecord, i: number): StoredRule {
    try {
      const { rule, compiled } = parseTenantRule(record.tenant, JSON.parse(record.rule), i);
      return { record, rule, compiled };
    } catch (e) {
      // A stored rule that no longer compiles is replaced by a deny for its tenant (fail closed).
      this.log.error({ rule: record.id, tenant: record.tenant, err: e instanceof Error ? e.message : String(e) }, 'policy.stored_rule_invalid');
      const rule: PolicyRuleT = { id: record.id, effect: 'deny', mode: 'enforce', reason: 'A stored policy rule is invalid', tenants: [record.tenant] };
      return { record, rule, compiled: compileRule(rule, 'store', i, [], () => undefined) };
    }
  }

  /** The engine for `snapshot` and the current stored rules; undefined when the snapshot has no policy. */
  engine(snapshot: Snapshot): PolicyEngine | undefined {
    if (!snapshot.policy.enabled) return undefined;
    const c = this.#cache;
    if (c && c.snapshot === snapshot && c.version === this.#version) return c.engine;
    const stored = this.#loaded ? this.#stored.map((s) => s.compiled) : [LOADING];
    const engine = new PolicyEngine([...snapshot.policy.rules, ...stored], snapshot);
    this.#cache = { snapshot, version: this.#version, engine };
    return engine;
  }

  /** One tenant's stored rules, oldest first. */
  list(tenant: string): { record: PolicyRuleRecord; rule: PolicyRuleT }[] {
    return this.#stored.filter((s) => s.record.tenant === tenant);
  }

  get(tenant: string, id: string): { record: PolicyRuleRecord; rule: PolicyRuleT } | undefined {
    return this.#stored.find((s) => s.record.tenant === tenant && s.record.id === id);
  }

  /** Validates, persists and applies a rule for `tenant`. */
  async add(tenant: string, body: unknown, now = new Date()): Promise<{ record: PolicyRuleRecord; rule: PolicyRuleT }> {
    if (!this.store) throw new GatewayError('ERR_NOT_FOUND', 'No policy store');
    if (!this.#loaded) throw new GatewayError('ERR_OVERLOADED', 'Policy rules are still loading');
    const { rule, compiled } = parseTenantRule(tenant, body, this.#stored.length);
    if (this.list(tenant).length >= MAX_STORED_RULES_PER_TENANT) throw new GatewayError('ERR_BAD_INPUT', `At most ${MAX_STORED_RULES_PER_TENANT} rules per tenant`);
    const record: PolicyRuleRecord = { id: rule.id, tenant, rule: JSON.stringify(rule), createdAt: now };
    await this.store.create(record);
    this.#stored = [...this.#stored, { record, rule, compiled }];
    this.#changed(tenant);
    this.log.info({ rule: rule.id, tenant, effect: rule.effect, mode: rule.mode }, 'policy.rule_added');
    return { record, rule };
  }

  /** Deletes and un-applies one of `tenant`'s rules; false when it has none by that id. */
  async delete(tenant: string, id: string): Promise<boolean> {
    if (!this.store) return false;
    const gone = await this.store.delete(tenant, id);
    if (gone) {
      this.#stored = this.#stored.filter((s) => !(s.record.tenant === tenant && s.record.id === id));
      this.#changed(tenant);
      this.log.info({ rule: id, tenant }, 'policy.rule_deleted');
    }
    return gone;
  }
}
