/** The memory backend: for tests and for `storage: memory`, where nothing must outlive the process. */
import type { Store } from '../ports.js';
import { Lifecycle } from '../values.js';
import { MemoryApiKeyStore } from './api-keys.js';
import { MemoryEraVerdictStore } from './era-verdicts.js';
import { MemoryOAuthStateStore } from './oauth-state.js';
import { MemoryPolicyRuleStore } from './policy-rules.js';
import { MemorySecretStore } from './secrets.js';
import { MemoryUpstreamEventStore } from './upstream-events.js';
import { MemoryUserStore } from './users.js';

/** Opens a fresh, empty in-memory Store. */
export function openMemoryStore(): Store {
  const life = new Lifecycle();
  return {
    eraVerdicts: new MemoryEraVerdictStore(life),
    upstreamEvents: new MemoryUpstreamEventStore(life),
    apiKeys: new MemoryApiKeyStore(life),
    users: new MemoryUserStore(life),
    secrets: new MemorySecretStore(life),
    oauthState: new MemoryOAuthStateStore(life),
    policyRules: new MemoryPolicyRuleStore(life),
    async close() {
      life.markClosed();
    },
  };
}
