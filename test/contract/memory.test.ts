/** Every storage contract against the in-memory backend, plus the memory OAuth state bound. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openStore } from '../../src/storage/index.js';
import { MemoryOAuthStateStore } from '../../src/storage/memory/oauth-state.js';
import { Lifecycle } from '../../src/storage/values.js';
import { apiKeyContract } from './api-keys.contract.js';
import { eraVerdictContract } from './era-verdicts.contract.js';
import type { StoreFactory } from './harness.js';
import { oauthStateContract } from './oauth-state.contract.js';
import { policyRuleContract } from './policy-rules.contract.js';
import { secretContract } from './secrets.contract.js';
import { upstreamEventContract } from './upstream-events.contract.js';
import { userContract } from './users.contract.js';

const factory: StoreFactory = async () => {
  const store = await openStore({ kind: 'memory', dataDir: '' });
  return { store, cleanup: () => store.close() };
};

eraVerdictContract('memory', factory, { persistent: false });
upstreamEventContract('memory', factory, { persistent: false });
apiKeyContract('memory', factory, { persistent: false });
userContract('memory', factory, { persistent: false });
secretContract('memory', factory, { persistent: false });
oauthStateContract('memory', factory, { persistent: false });
policyRuleContract('memory', factory, { persistent: false });

// The memory backend's own bound, which no contract can see (the SQL backends have none).
describe('memory OAuthStateStore bound', () => {
  it('holds at most maxRecords: expired records go first, then the soonest to expire, never-expiring last', async () => {
    const s = new MemoryOAuthStateStore(new Lifecycle(), { maxRecords: 5 });
    const inMs = (ms: number) => new Date(Date.now() + ms);
    await s.upsert('Client', 'forever', '{}', undefined, {});
    await s.upsert('AccessToken', 'expired', '{}', new Date(Date.now() - 1000), { grantId: 'g' });
    await s.upsert('AccessToken', 'late', '{}', inMs(3_600_000), {});
    await s.upsert('AccessToken', 'early', '{}', inMs(60_000), {});
    await s.upsert('AccessToken', 'middle', '{}', inMs(600_000), {});
    // Full: the expired record makes room.
    await s.upsert('AccessToken', 'n1', '{}', inMs(7_200_000), {});
    assert.equal(await s.prune(new Date(0)), 0);
    assert.deepEqual((await s.list('AccessToken', 10)).map((r) => r.id).sort(), ['early', 'late', 'middle', 'n1']);
    // Full with nothing expired: the record that expires soonest is evicted.
    await s.upsert('AccessToken', 'n2', '{}', inMs(7_200_000), {});
    assert.equal(await s.find('AccessToken', 'early'), undefined);
    await s.upsert('AccessToken', 'n3', '{}', inMs(7_200_000), {});
    assert.equal(await s.find('AccessToken', 'middle'), undefined);
    assert.ok(await s.find('Client', 'forever'), 'never-expiring records go last');
    // Replacing an existing record never evicts.
    await s.upsert('AccessToken', 'late', '{"v":2}', inMs(3_600_000), {});
    assert.equal(await s.count('AccessToken'), 4);
    assert.equal(await s.count('Client'), 1);
  });

  it('evicts never-expiring records too when nothing else is left, oldest write first', async () => {
    const s = new MemoryOAuthStateStore(new Lifecycle(), { maxRecords: 3 });
    for (const id of ['a', 'b', 'c', 'd']) await s.upsert('Client', id, '{}', undefined, {});
    assert.deepEqual((await s.list('Client', 10)).map((r) => r.id).sort(), ['b', 'c', 'd']);
  });
});
