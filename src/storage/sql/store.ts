/** Wraps an open, migrated Kysely database as a Store; the dialect-specific opener owns the rest. */
import type { Kysely } from 'kysely';
import type { Store } from '../ports.js';
import { Lifecycle } from '../values.js';
import { SqlApiKeyStore } from './api-keys.js';
import { SqlEraVerdictStore } from './era-verdicts.js';
import { SqlOAuthStateStore } from './oauth-state.js';
import { SqlPolicyRuleStore } from './policy-rules.js';
import type { StorageDb } from './schema.js';
import { SqlSecretStore } from './secrets.js';
import { SqlUpstreamEventStore } from './upstream-events.js';
import { SqlUserStore } from './users.js';

/** A Store over `db`; `close()` destroys the database handle once. */
export function sqlStore(db: Kysely<StorageDb>): Store {
  const life = new Lifecycle();
  return {
    eraVerdicts: new SqlEraVerdictStore(db, life),
    upstreamEvents: new SqlUpstreamEventStore(db, life),
    apiKeys: new SqlApiKeyStore(db, life),
    users: new SqlUserStore(db, life),
    secrets: new SqlSecretStore(db, life),
    oauthState: new SqlOAuthStateStore(db, life),
    policyRules: new SqlPolicyRuleStore(db, life),
    async close() {
      if (life.markClosed()) await db.destroy();
    },
  };
}
