/** Stored (admin API) rules: validation bound to a tenant, versioned engines, fail-closed loading. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PolicyService, parseTenantRule } from '../../../src/policy/service.js';
import { openMemoryStore } from '../../../src/storage/memory/store.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { GatewayError } from '../../../src/pipeline/errors.js';
import { entry, principal, snapshotOf, view } from './fixtures.js';

const tool = entry({ upstream: 'git', name: 'status' });
const V = view('default', [tool]);
const snap = snapshotOf([{ id: 'all', effect: 'allow' }], [{ name: 'git', tags: [] }]);

describe('policy service', () => {
  it('forces the caller tenant and rejects what the config would reject', () => {
    assert.deepEqual(parseTenantRule('acme', { id: 'x', effect: 'deny', tenants: ['globex'] }).rule.tenants, ['acme']);
    for (const bad of [null, [], { id: 'x' }, { id: 'x', effect: 'deny', when: 'args.x +' }, { id: 'x', effect: 'allow', annotations: { a: true } }]) {
      assert.throws(() => parseTenantRule('acme', bad), (e: unknown) => e instanceof GatewayError && e.code === 'ERR_BAD_INPUT');
    }
  });

  it('denies everything until the store is read, then applies stored rules per tenant with a new engine per version', async () => {
    const store = openMemoryStore();
    const svc = new PolicyService(store.policyRules, silentLogger);
    assert.equal(svc.engine(snap)!.decideEntry('tool', V, tool, principal(), {}).effect, 'deny', 'fail closed while loading');
    await svc.load();
    const e1 = svc.engine(snap)!;
    assert.equal(e1.decideEntry('tool', V, tool, principal(), {}).effect, 'allow');
    assert.equal(svc.engine(snap), e1, 'cached while nothing changes');
    await svc.add('acme', { id: 'no-git', effect: 'deny', upstreams: ['git'] });
    const e2 = svc.engine(snap)!;
    assert.notEqual(e2, e1);
    assert.equal(e2.decideEntry('tool', V, tool, principal(), {}).rule, 'no-git');
    assert.equal(e2.decideEntry('tool', V, tool, principal({ tenant: 'globex' }), {}).effect, 'allow');
    await assert.rejects(svc.add('acme', { id: 'no-git', effect: 'deny' }), (e: unknown) => e instanceof GatewayError && e.code === 'ERR_CONFLICT');
    assert.equal(await svc.delete('globex', 'no-git'), false);
    assert.equal(await svc.delete('acme', 'no-git'), true);
    assert.equal(svc.engine(snap)!.decideEntry('tool', V, tool, principal(), {}).effect, 'allow');
    await store.close();
  });

  it('a stored rule that no longer compiles becomes a deny for its tenant (fail closed)', async () => {
    const store = openMemoryStore();
    await store.policyRules.create({ id: 'broken', tenant: 'acme', rule: '{"id":"broken","effect":"allow","when":"args.x +"}', createdAt: new Date() });
    const svc = new PolicyService(store.policyRules, silentLogger);
    await svc.load();
    const e = svc.engine(snap)!;
    assert.equal(e.decideEntry('tool', V, tool, principal(), {}).rule, 'broken');
    assert.equal(e.decideEntry('tool', V, tool, principal(), {}).effect, 'deny');
    assert.equal(e.decideEntry('tool', V, tool, principal({ tenant: 'globex' }), {}).effect, 'allow');
    await store.close();
  });

  it('without a policy section there is no engine, whatever is stored', async () => {
    const store = openMemoryStore();
    const svc = new PolicyService(store.policyRules, silentLogger);
    await svc.load();
    assert.equal(svc.engine(snapshotOf(undefined, [])), undefined);
    await store.close();
  });
});
