/**
 * Storage ports: the only way the gateway reaches durable state. Each port has one contract suite
 * (test/contract/) that every backend (memory, SQLite, later PostgreSQL) must pass unchanged, so
 * behaviour that callers may rely on is spelled out here and asserted there.
 */

/** Most events `UpstreamEventStore.recent` returns, and most the memory backend keeps per upstream. */
export const RECENT_EVENTS_MAX = 1000;

/** The HTTP transport an upstream answered on when it was probed. */
export type UpstreamTransport = 'streamable-http' | 'sse';

/** Which protocol era the upstream speaks: 2025 sessions (`legacy`) or 2026-07-28 stateless (`modern`). */
export type UpstreamEra = 'legacy' | 'modern';

/** The cached result of probing an HTTP upstream, valid for one auth context. */
export interface EraVerdict {
  upstream: string;
  /** Which credentials the probe ran with; '' when the upstream needs none. Never a secret itself. */
  authContext: string;
  transport: UpstreamTransport;
  era: UpstreamEra;
  protocolVersion: string;
  /** Round-trips with millisecond precision. */
  probedAt: Date;
}

/**
 * Cached era verdicts keyed by `(upstream, authContext)`. Returned objects are copies: mutating
 * them never changes what is stored.
 */
export interface EraVerdictStore {
  get(upstream: string, authContext: string): Promise<EraVerdict | undefined>;
  /** Inserts, or replaces every field of the verdict with the same key. */
  put(v: EraVerdict): Promise<void>;
  /** Deletes one auth context's verdict, or every context of the upstream when omitted. */
  delete(upstream: string, authContext?: string): Promise<void>;
  /** Every verdict, ordered by upstream then authContext (UTF-16 code unit order, as `<` on strings). */
  list(): Promise<EraVerdict[]>;
}

/** A health state an upstream moved into. */
export type UpstreamState = 'healthy' | 'unhealthy' | 'starting' | 'stopped';

/** One health change of an upstream. */
export interface UpstreamEvent {
  upstream: string;
  at: Date;
  state: UpstreamState;
  reason?: string;
}

/** Append-only history of upstream health changes, read by `/readyz` and later by audit. */
export interface UpstreamEventStore {
  append(e: UpstreamEvent): Promise<void>;
  /**
   * The upstream's newest events first (by `at`, then latest appended first among equal `at`).
   * `limit` is floored and clamped to 0..RECENT_EVENTS_MAX.
   */
  recent(upstream: string, limit: number): Promise<UpstreamEvent[]>;
  /** Deletes every event with `at` strictly before `olderThan`; resolves to how many went. */
  prune(olderThan: Date): Promise<number>;
}

/** One open backend. After `close()` (idempotent) every operation rejects. */
export interface Store {
  eraVerdicts: EraVerdictStore;
  upstreamEvents: UpstreamEventStore;
  apiKeys: ApiKeyStore;
  users: UserStore;
  secrets: SecretStore;
  oauthState: OAuthStateStore;
  policyRules: PolicyRuleStore;
  close(): Promise<void>;
}

/** One API key record. The key itself is never stored: only a keyed hash of its secret part. */
export interface ApiKeyRecord {
  /** Public identifier, embedded in the key (`pcl_<id>_<secret>`); safe to log. */
  id: string;
  name: string;
  tenant: string;
  roles: string[];
  /** Virtual servers the key may reach; empty means every endpoint its roles allow. */
  virtualServers: string[];
  /** HMAC-SHA256 of the secret part under the gateway's key-hash key, hex. */
  hash: string;
  createdAt: Date;
  expiresAt?: Date;
  revokedAt?: Date;
  lastUsedAt?: Date;
}

/** API keys by id. Returned objects are copies. */
export interface ApiKeyStore {
  /** Inserts a new key; rejects (ERR_CONFLICT) when the id exists. */
  create(k: ApiKeyRecord): Promise<void>;
  get(id: string): Promise<ApiKeyRecord | undefined>;
  /** Every key of a tenant (or of all tenants when omitted), ordered by createdAt then id (code unit order). */
  list(tenant?: string): Promise<ApiKeyRecord[]>;
  /** Marks the key revoked at `at`; resolves false when there is no such key. Revoking twice keeps the first time. */
  revoke(id: string, at: Date): Promise<boolean>;
  /** Records a use; never moves lastUsedAt backwards; an unknown id is a no-op. */
  touch(id: string, at: Date): Promise<void>;
}

/** A local user of the built-in authorization server. */
export interface UserRecord {
  /** Unique, case-sensitive login name; also the principal's subject. */
  username: string;
  tenant: string;
  roles: string[];
  /** scrypt hash in PHC-like form `scrypt$N$r$p$salt$hash` (base64url parts). */
  passwordHash: string;
  createdAt: Date;
  disabled: boolean;
}

/** Local users by username. Returned objects are copies. */
export interface UserStore {
  /** Inserts a user; rejects (ERR_CONFLICT) when the username exists. */
  create(u: UserRecord): Promise<void>;
  get(username: string): Promise<UserRecord | undefined>;
  /** Every user ordered by username (UTF-16 code unit order). */
  list(): Promise<UserRecord[]>;
  /** Replaces every field but username and createdAt; resolves false when there is no such user. */
  update(u: UserRecord): Promise<boolean>;
  delete(username: string): Promise<boolean>;
}

/**
 * One encrypted value in the gateway's secret store. The store never sees plaintext: the
 * encryption layer (src/auth/secrets) seals values with AES-256-GCM before they arrive here.
 */
export interface SecretRecord {
  /** Namespace + name, e.g. `secret/github-token` or `upstream-oauth/<upstream>/<principal>`. */
  name: string;
  /** Which encryption key sealed it, so keys can rotate. */
  keyId: string;
  /** base64url of iv || ciphertext || tag. */
  sealed: string;
  updatedAt: Date;
}

/** Encrypted secrets by name. Returned objects are copies. */
export interface SecretStore {
  /** Inserts or replaces the record with the same name. */
  put(s: SecretRecord): Promise<void>;
  get(name: string): Promise<SecretRecord | undefined>;
  /**
   * Records whose name starts with `prefix` (a literal, case-sensitive match: no wildcards; all
   * when omitted or ''), ordered by name in UTF-16 code unit order.
   */
  list(prefix?: string): Promise<SecretRecord[]>;
  delete(name: string): Promise<boolean>;
}

/** Largest payload `OAuthStateStore.upsert` accepts, in UTF-8 bytes (256 KiB). */
export const OAUTH_STATE_PAYLOAD_MAX_BYTES = 256 * 1024;

/** Longest model name, id or index value `OAuthStateStore` accepts, in UTF-16 code units. */
export const OAUTH_STATE_KEY_MAX = 2048;

/** Secondary keys an OAuth state record can be found or revoked by; each absent when not given. */
export interface OAuthStateIndex {
  /** The grant the record belongs to; `revokeByGrantId` deletes by it. */
  grantId?: string;
  /** Device-flow user code; `findBy(model, 'userCode', …)` looks it up. */
  userCode?: string;
  /** Session uid; `findBy(model, 'uid', …)` looks it up. */
  uid?: string;
}

/** One stored OAuth state record as `find` returns it. Dates round-trip with millisecond precision. */
export interface OAuthStateRecord {
  /** The JSON text given to the latest `upsert`, byte for byte. */
  payload: string;
  /** Absent: the record never expires. */
  expiresAt?: Date;
  /** Set by the first `consume`; absent until then. */
  consumedAt?: Date;
}

/**
 * The authorization server's records (oidc-provider adapter models: Client, Grant, Session,
 * Interaction, AuthorizationCode, RefreshToken, …), keyed by `(model, id)`. Payloads are opaque
 * JSON text to the store.
 *
 * Rules every backend keeps:
 * - A record whose `expiresAt` is at or before the current time is gone for every read (`find`,
 *   `findBy`, `list`, `count`), whether or not `prune` has deleted it yet.
 * - Model names, ids and index values are exact, case-sensitive strings of at most
 *   OAUTH_STATE_KEY_MAX code units; `upsert` rejects longer ones (ERR_BAD_INPUT), reads with a
 *   longer one find nothing, and writes with one change nothing.
 * - Invalid dates (NaN, outside years 0000..9999) reject with ERR_INTERNAL and change nothing.
 * - After the Store is closed every operation rejects.
 */
export interface OAuthStateStore {
  /**
   * Inserts the record, or replaces its payload, expiry and index when `(model, id)` exists.
   * Consumption is one-way: replacing a consumed record keeps its `consumedAt`. A payload over
   * OAUTH_STATE_PAYLOAD_MAX_BYTES (UTF-8) rejects with ERR_BAD_INPUT and stores nothing.
   */
  upsert(model: string, id: string, payload: string, expiresAt: Date | undefined, index: OAuthStateIndex): Promise<void>;
  /** The live record, or undefined when there is none or it has expired. */
  find(model: string, id: string): Promise<OAuthStateRecord | undefined>;
  /**
   * The live record of `model` whose index `key` equals `value`, or undefined. When several live
   * records share the value, which one is returned is unspecified.
   */
  findBy(model: string, key: 'uid' | 'userCode', value: string): Promise<OAuthStateRecord | undefined>;
  /**
   * Live records of one model with their ids, at most `limit` (floored, clamped to 0..100,000),
   * in no particular order. For warming caches at start, not for hot paths.
   */
  list(model: string, limit: number): Promise<Array<OAuthStateRecord & { id: string }>>;
  /** How many live records `model` holds. */
  count(model: string): Promise<number>;
  /** Marks the record consumed at `at`; a second consume keeps the first time; an unknown id is a no-op. */
  consume(model: string, id: string, at: Date): Promise<void>;
  /** Deletes the record; an unknown id is a no-op. */
  destroy(model: string, id: string): Promise<void>;
  /** Deletes every record of every model whose index `grantId` equals `grantId`. */
  revokeByGrantId(grantId: string): Promise<void>;
  /** Deletes every record with `expiresAt` at or before `now`; resolves to how many went. */
  prune(now: Date): Promise<number>;
}

/** Longest rule body `PolicyRuleStore.create` accepts, in UTF-8 bytes (32 KiB). */
export const POLICY_RULE_MAX_BYTES = 32 * 1024;

/**
 * One policy rule added through the admin API. The store keeps the rule as opaque JSON text: the
 * policy layer validates and compiles it (same schema and CEL compiler as config rules).
 */
export interface PolicyRuleRecord {
  /** The rule's id; unique within its tenant. */
  id: string;
  /** The tenant that owns (and alone sees) the rule. */
  tenant: string;
  /** The rule as JSON text, at most POLICY_RULE_MAX_BYTES. */
  rule: string;
  createdAt: Date;
}

/** Stored policy rules keyed by `(tenant, id)`. Returned objects are copies. */
export interface PolicyRuleStore {
  /** Inserts a rule; rejects ERR_CONFLICT when `(tenant, id)` exists and ERR_BAD_INPUT when `rule` is too long. */
  create(r: PolicyRuleRecord): Promise<void>;
  get(tenant: string, id: string): Promise<PolicyRuleRecord | undefined>;
  /** Every rule of a tenant (or of all tenants when omitted), ordered by createdAt, then tenant, then id (code unit order). */
  list(tenant?: string): Promise<PolicyRuleRecord[]>;
  /** Deletes one rule; resolves false when there is none. */
  delete(tenant: string, id: string): Promise<boolean>;
}
