/** Every storage contract against the in-memory backend. */
import { openStore } from '../../src/storage/index.js';
import { apiKeyContract } from './api-keys.contract.js';
import { eraVerdictContract } from './era-verdicts.contract.js';
import type { StoreFactory } from './harness.js';
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
