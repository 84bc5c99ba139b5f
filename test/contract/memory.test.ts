/** Both storage contracts against the in-memory backend. */
import { openStore } from '../../src/storage/index.js';
import { eraVerdictContract } from './era-verdicts.contract.js';
import type { StoreFactory } from './harness.js';
import { upstreamEventContract } from './upstream-events.contract.js';

const factory: StoreFactory = async () => {
  const store = await openStore({ kind: 'memory', dataDir: '' });
  return { store, cleanup: () => store.close() };
};

eraVerdictContract('memory', factory, { persistent: false });
upstreamEventContract('memory', factory, { persistent: false });
