/**
 * Table shapes shared by every SQL backend (SQLite now, PostgreSQL later). Dates are fixed-width
 * UTC ISO strings in `text` columns: portable, millisecond-exact, and ordered correctly as text.
 * String arrays are JSON text, and booleans are integers 0/1, for the same portability.
 */
import type { Generated } from 'kysely';

export interface EraVerdictsTable {
  upstream: string;
  auth_context: string;
  transport: string;
  era: string;
  protocol_version: string;
  probed_at: string;
}

export interface UpstreamEventsTable {
  // Only used to order events that share an `at`; never read back (PostgreSQL returns bigint as text).
  id: Generated<number | string>;
  upstream: string;
  at: string;
  state: string;
  reason: string | null;
}

export interface ApiKeysTable {
  id: string;
  name: string;
  tenant: string;
  /** JSON array of strings. */
  roles: string;
  /** JSON array of strings. */
  virtual_servers: string;
  hash: string;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
}

export interface UsersTable {
  username: string;
  tenant: string;
  /** JSON array of strings. */
  roles: string;
  password_hash: string;
  created_at: string;
  /** 0 or 1. */
  disabled: number;
}

export interface SecretsTable {
  name: string;
  key_id: string;
  sealed: string;
  updated_at: string;
}

/** oidc-provider adapter records; see OAuthStateStore. Primary key (model, id). */
export interface OAuthStateTable {
  model: string;
  id: string;
  /** JSON text, at most OAUTH_STATE_PAYLOAD_MAX_BYTES. */
  payload: string;
  /** null: never expires. */
  expires_at: string | null;
  consumed_at: string | null;
  grant_id: string | null;
  user_code: string | null;
  uid: string | null;
}

/** Admin-API policy rules; primary key (tenant, id). */
export interface PolicyRulesTable {
  tenant: string;
  id: string;
  /** The rule as JSON text. */
  rule: string;
  created_at: string;
}

/** The database as Kysely sees it. */
export interface StorageDb {
  era_verdicts: EraVerdictsTable;
  upstream_events: UpstreamEventsTable;
  api_keys: ApiKeysTable;
  users: UsersTable;
  secrets: SecretsTable;
  oauth_state: OAuthStateTable;
  policy_rules: PolicyRulesTable;
}
