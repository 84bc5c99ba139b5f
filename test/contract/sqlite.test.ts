/** Every storage contract against the embedded SQLite backend, each test in a fresh temp dir. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../src/storage/index.js';
import type { Store } from '../../src/storage/ports.js';
import { apiKeyContract } from './api-keys.contract.js';
import { eraVerdictContract } from './era-verdicts.contract.js';
import type { StoreFactory } from './harness.js';
import { oauthStateContract } from './oauth-state.contract.js';
import { policyRuleContract } from './policy-rules.contract.js';
import { secretContract } from './secrets.contract.js';
import { upstreamEventContract } from './upstream-events.contract.js';
import { userContract } from './users.contract.js';

const factory: StoreFactory = async () => {
  const root = await mkdtemp(join(tmpdir(), 'portcullis-contract-'));
  // A not-yet-existing subdirectory, so every test also exercises dataDir creation.
  const dataDir = join(root, 'data');
  const opened: Store[] = [];
  const open = async () => {
    const s = await openStore({ kind: 'sqlite', dataDir });
    opened.push(s);
    return s;
  };
  return {
    store: await open(),
    reopen: open,
    async cleanup() {
      for (const s of opened) await s.close();
      await rm(root, { recursive: true, force: true });
    },
  };
};

eraVerdictContract('sqlite', factory);
upstreamEventContract('sqlite', factory);
apiKeyContract('sqlite', factory);
userContract('sqlite', factory);
secretContract('sqlite', factory);
oauthStateContract('sqlite', factory);
policyRuleContract('sqlite', factory);
