/**
 * oidc-provider storage over the OAuthStateStore port, so registered clients, grants, sessions,
 * codes and refresh tokens survive a restart (SQLite) or share the memory backend's bound.
 *
 * - Records are the provider's payloads as JSON text, expiring `expiresIn` seconds after the write.
 * - Models whose id is itself a bearer credential (codes, opaque tokens) are stored under the id's
 *   SHA-256 with the `jti` left out of the payload, so a copy of the database holds no usable
 *   token; `find` puts the id back, as oidc-provider only ever finds them by their value.
 * - `consumed` comes back as epoch seconds (oidc-provider only tests it for truthiness).
 * - `revokeByGrantId` deletes every grant-bound record of the grant, whichever model asks, as
 *   oidc-provider's own memory adapter does.
 * - Models an anonymous request can create (clients via DCR, interactions, sessions) are capped:
 *   a new record past the cap is refused with `temporarily_unavailable`; replacing one is not.
 *
 * Also here: the remembered-consent map written through to the same store (`StoredConsents`).
 */
import { createHash } from 'node:crypto';
import type { Adapter, AdapterFactory, AdapterPayload } from 'oidc-provider';
import { errors } from 'oidc-provider';
import type { OAuthStateRecord, OAuthStateStore } from '../../storage/ports.js';
import { TtlMap } from './ttl-map.js';

/** Models whose records belong to a grant (oidc-provider revokes them together). */
const GRANT_BOUND: ReadonlySet<string> = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
]);

/**
 * Models whose id is the credential a client presents and which are only ever found by id.
 * DeviceCode is absent: it is also found by user code, where the id could not be put back.
 */
const SECRET_ID: ReadonlySet<string> = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'ClientCredentials',
  'BackchannelAuthenticationRequest',
  'PushedAuthorizationRequest',
  'InitialAccessToken',
  'RegistrationAccessToken',
  'PreAuthorizedCode',
]);

/** Default caps on live records of the models anonymous requests can create. */
export const DEFAULT_STORE_CAPS: Readonly<Record<string, number>> = { Client: 10_000, Interaction: 50_000, Session: 50_000 };

/** How long a cached record count may stand in for a real one while far below the cap. */
const RECOUNT_MS = 10_000;

/** The model name under which `StoredConsents` keeps its entries (no oidc-provider model uses it). */
export const CONSENT_MODEL = 'PortcullisConsent';

/** Options of `storeAdapterFactory`. */
export interface StoreAdapterOptions {
  store: OAuthStateStore;
  /** Most live records per model; models not named are unbounded (they expire). Default DEFAULT_STORE_CAPS. */
  caps?: Readonly<Record<string, number>>;
  /** Told each time a cap refuses a new record. */
  onRefuse?: (model: string, cap: number) => void;
}

const sha256 = (s: string): string => createHash('sha256').update(s).digest('base64url');

/** Admits new records of capped models; the count is cached while it stays below the cap. */
class Admission {
  private readonly counts = new Map<string, { n: number; at: number }>();

  constructor(
    private readonly store: OAuthStateStore,
    private readonly caps: Readonly<Record<string, number>>,
    private readonly onRefuse: (model: string, cap: number) => void,
  ) {}

  async admit(model: string, storedId: string): Promise<void> {
    const cap = this.caps[model];
    if (cap === undefined) return;
    const now = Date.now();
    const cached = this.counts.get(model);
    // The cached count only grows (replacements and deletions are not seen), so it can only be
    // too high: a real count settles it before anything is refused.
    if (cached && now - cached.at < RECOUNT_MS && cached.n < cap) {
      cached.n += 1;
      return;
    }
    const n = await this.store.count(model);
    if (n >= cap && !(await this.store.find(model, storedId))) {
      this.counts.delete(model);
      this.onRefuse(model, cap);
      throw new errors.TemporarilyUnavailable('the authorization server is at capacity, try again later');
    }
    this.counts.set(model, { n: n + 1, at: now });
  }
}

/** Parses a stored payload; anything but a JSON object is treated as absent (fail closed). */
function decode(rec: OAuthStateRecord | undefined, restoreJti: string | undefined): AdapterPayload | undefined {
  if (!rec) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(rec.payload);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const p = v as AdapterPayload;
  if (restoreJti !== undefined) p.jti = restoreJti;
  if (rec.consumedAt) p.consumed = Math.floor(rec.consumedAt.getTime() / 1000);
  return p;
}

class StoreAdapter implements Adapter {
  private readonly secretId: boolean;

  constructor(
    private readonly model: string,
    private readonly store: OAuthStateStore,
    private readonly admission: Admission,
  ) {
    this.secretId = SECRET_ID.has(model);
  }

  private key(id: string): string {
    return this.secretId ? sha256(id) : id;
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    const key = this.key(id);
    await this.admission.admit(this.model, key);
    let body: AdapterPayload = payload;
    if (this.secretId) {
      body = { ...payload };
      delete body.jti;
    }
    const expiresAt = typeof expiresIn === 'number' && Number.isFinite(expiresIn) ? new Date(Date.now() + expiresIn * 1000) : undefined;
    const index: { grantId?: string; userCode?: string; uid?: string } = {};
    if (GRANT_BOUND.has(this.model) && typeof payload.grantId === 'string') index.grantId = payload.grantId;
    if (this.model === 'Session' && typeof payload.uid === 'string') index.uid = payload.uid;
    if (typeof payload.userCode === 'string') index.userCode = payload.userCode;
    await this.store.upsert(this.model, key, JSON.stringify(body), expiresAt, index);
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    return decode(await this.store.find(this.model, this.key(id)), this.secretId ? id : undefined);
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    return decode(await this.store.findBy(this.model, 'uid', uid), undefined);
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    return decode(await this.store.findBy(this.model, 'userCode', userCode), undefined);
  }

  async consume(id: string): Promise<void> {
    await this.store.consume(this.model, this.key(id), new Date());
  }

  async destroy(id: string): Promise<void> {
    await this.store.destroy(this.model, this.key(id));
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    await this.store.revokeByGrantId(grantId);
  }
}

/** The factory to pass as oidc-provider's `adapter`; build it once and reuse it across provider rebuilds. */
export function storeAdapterFactory(opts: StoreAdapterOptions): AdapterFactory {
  const admission = new Admission(opts.store, opts.caps ?? DEFAULT_STORE_CAPS, opts.onRefuse ?? (() => undefined));
  return (model: string) => new StoreAdapter(model, opts.store, admission);
}

/**
 * Remembered consent (`consentKey(user, client)` → grant id) that survives a restart: reads stay
 * synchronous from the in-memory map (oidc-provider's `loadExistingGrant` and the consent page
 * use it as one), every write also goes to the store, and `open` loads what the store holds.
 * Store writes are not awaited by callers; `flush()` waits for them (call it before closing the store).
 */
export class StoredConsents extends TtlMap<string> {
  private readonly pending = new Set<Promise<void>>();

  private constructor(
    private readonly store: OAuthStateStore,
    maxEntries: number,
    private readonly defaultTtlMs: number,
    private readonly onError: (err: unknown) => void,
  ) {
    super(maxEntries, defaultTtlMs);
  }

  /** Loads up to `maxEntries` live consents from the store. */
  static async open(store: OAuthStateStore, maxEntries: number, ttlMs: number, onError: (err: unknown) => void): Promise<StoredConsents> {
    const c = new StoredConsents(store, maxEntries, ttlMs, onError);
    const now = Date.now();
    for (const r of await store.list(CONSENT_MODEL, maxEntries)) {
      const v = decode(r, undefined) as { key?: unknown; grantId?: unknown } | undefined;
      const left = (r.expiresAt?.getTime() ?? now + ttlMs) - now;
      // The id is the key's hash: a record whose payload does not hash back to it is ignored.
      if (typeof v?.key !== 'string' || typeof v.grantId !== 'string' || sha256(v.key) !== r.id || left <= 0) continue;
      c.remember(v.key, v.grantId, Math.min(left, ttlMs));
    }
    return c;
  }

  private remember(k: string, v: string, ttlMs: number): void {
    super.set(k, v, ttlMs);
  }

  override set(k: string, v: string, ttlMs: number = this.defaultTtlMs): void {
    super.set(k, v, ttlMs);
    this.track(this.store.upsert(CONSENT_MODEL, sha256(k), JSON.stringify({ key: k, grantId: v }), new Date(Date.now() + ttlMs), {}));
  }

  override delete(k: string): void {
    super.delete(k);
    this.track(this.store.destroy(CONSENT_MODEL, sha256(k)));
  }

  /** Resolves once every store write started so far has settled. */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }

  private track(p: Promise<void>): void {
    const q = p.catch(this.onError).finally(() => this.pending.delete(q));
    this.pending.add(q);
  }
}
