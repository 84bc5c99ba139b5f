/** Contract of PolicyRuleStore: every backend must pass it unchanged. */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { POLICY_RULE_MAX_BYTES, type PolicyRuleRecord } from '../../src/storage/ports.js';
import { GatewayError } from '../../src/pipeline/errors.js';
import { persistentCase, reopenOf, type BackendTraits, type StoreFactory, type StoreHarness } from './harness.js';

const T0 = Date.UTC(2026, 6, 28, 9, 0, 0, 123);

function rule(tenant: string, id: string, over: Partial<PolicyRuleRecord> = {}): PolicyRuleRecord {
  return { tenant, id, rule: JSON.stringify({ id, effect: 'allow', tools: ['git__*'] }), createdAt: new Date(T0), ...over };
}

const code = (c: string) => (e: unknown) => e instanceof GatewayError && e.code === c;

/** Registers the PolicyRuleStore contract for one backend. */
export function policyRuleContract(name: string, factory: StoreFactory, traits: BackendTraits = {}): void {
  async function open(t: TestContext): Promise<StoreHarness> {
    const h = await factory();
    t.after(() => h.cleanup());
    return h;
  }

  describe(`PolicyRuleStore contract: ${name}`, () => {
    it('starts empty', async (t) => {
      const { store } = await open(t);
      assert.equal(await store.policyRules.get('acme', 'r1'), undefined);
      assert.deepEqual(await store.policyRules.list(), []);
      assert.deepEqual(await store.policyRules.list('acme'), []);
    });

    it('round-trips every field, the rule text byte for byte and the date to the millisecond', async (t) => {
      const { store } = await open(t);
      const r = rule('acme', 'r.1-x_y', { rule: '{"id":"r.1-x_y","reason":"déploiement — ok \\u0000"}', createdAt: new Date(T0 + 7) });
      await store.policyRules.create(r);
      const got = await store.policyRules.get('acme', 'r.1-x_y');
      assert.ok(got?.createdAt instanceof Date);
      assert.deepEqual(got, r);
      // Copies: mutating what came back changes nothing stored.
      got!.rule = 'x';
      assert.deepEqual(await store.policyRules.get('acme', 'r.1-x_y'), r);
    });

    it('ids are per tenant: the same id in two tenants is two rules; a duplicate in one tenant is ERR_CONFLICT', async (t) => {
      const { store } = await open(t);
      await store.policyRules.create(rule('acme', 'r1'));
      await store.policyRules.create(rule('globex', 'r1', { rule: '{"other":true}' }));
      await assert.rejects(store.policyRules.create(rule('acme', 'r1', { rule: '{}' })), code('ERR_CONFLICT'));
      assert.equal((await store.policyRules.get('acme', 'r1'))?.rule, rule('acme', 'r1').rule);
      assert.equal((await store.policyRules.get('globex', 'r1'))?.rule, '{"other":true}');
      assert.equal(await store.policyRules.get('initech', 'r1'), undefined);
    });

    it('lists one tenant or all, ordered by createdAt, then tenant, then id', async (t) => {
      const { store } = await open(t);
      await store.policyRules.create(rule('b', 'z', { createdAt: new Date(T0) }));
      await store.policyRules.create(rule('a', 'y', { createdAt: new Date(T0) }));
      await store.policyRules.create(rule('a', 'B', { createdAt: new Date(T0) }));
      await store.policyRules.create(rule('a', 'first', { createdAt: new Date(T0 - 1) }));
      assert.deepEqual((await store.policyRules.list()).map((r) => `${r.tenant}/${r.id}`), ['a/first', 'a/B', 'a/y', 'b/z']);
      assert.deepEqual((await store.policyRules.list('a')).map((r) => r.id), ['first', 'B', 'y']);
    });

    it('delete removes only the (tenant, id) given and reports whether it existed', async (t) => {
      const { store } = await open(t);
      await store.policyRules.create(rule('acme', 'r1'));
      await store.policyRules.create(rule('globex', 'r1'));
      assert.equal(await store.policyRules.delete('initech', 'r1'), false);
      assert.equal(await store.policyRules.delete('acme', 'r1'), true);
      assert.equal(await store.policyRules.delete('acme', 'r1'), false);
      assert.deepEqual((await store.policyRules.list()).map((r) => r.tenant), ['globex']);
    });

    it('refuses an over-long rule (ERR_BAD_INPUT) and an invalid date (ERR_INTERNAL), storing nothing', async (t) => {
      const { store } = await open(t);
      await assert.rejects(store.policyRules.create(rule('acme', 'big', { rule: 'x'.repeat(POLICY_RULE_MAX_BYTES + 1) })), code('ERR_BAD_INPUT'));
      await assert.rejects(store.policyRules.create(rule('acme', 'bad', { createdAt: new Date(Number.NaN) })), code('ERR_INTERNAL'));
      assert.deepEqual(await store.policyRules.list(), []);
    });

    it('rejects every operation after close', async (t) => {
      const { store } = await open(t);
      await store.close();
      await assert.rejects(store.policyRules.list());
      await assert.rejects(store.policyRules.get('a', 'b'));
      await assert.rejects(store.policyRules.create(rule('a', 'b')));
      await assert.rejects(store.policyRules.delete('a', 'b'));
    });

    const p = persistentCase(name, 'rules survive close and reopen', traits);
    it(p.title, { skip: p.skip }, async (t) => {
      const h = await open(t);
      await h.store.policyRules.create(rule('acme', 'kept'));
      await h.store.close();
      const again = await reopenOf(h)();
      assert.deepEqual(await again.policyRules.list(), [rule('acme', 'kept')]);
    });
  });
}
