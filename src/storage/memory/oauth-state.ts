/**
 * In-memory OAuthStateStore, plus the input checks every backend shares. Bounded: at most
 * `maxRecords` records (default 100,000). When an insert would pass the bound, expired records are
 * dropped first; if that is not enough, the 1 % of records that expire soonest are evicted
 * (records without expiry last, ties oldest write first). Evicting rather than refusing keeps the
 * authorization server working under a flood, at the price of the flood's victims signing in again;
 * an evicted code or token is simply unknown, which oidc-provider treats as invalid (fail closed).
 * Expired records are otherwise removed lazily, when a read meets them or `prune` runs.
 */
import { GatewayError } from '../../pipeline/errors.js';
import {
  OAUTH_STATE_KEY_MAX,
  OAUTH_STATE_PAYLOAD_MAX_BYTES,
  type OAuthStateIndex,
  type OAuthStateRecord,
  type OAuthStateStore,
} from '../ports.js';
import { toMs, type Lifecycle } from '../values.js';

/** Default bound of the memory backend's record count. */
export const MEMORY_OAUTH_STATE_MAX = 100_000;

/** Most records one `list` call returns. */
export const OAUTH_STATE_LIST_MAX = 100_000;

/** True when `s` is a string a record key or index value may be (reads with anything else find nothing). */
export function oauthKeyOk(s: unknown): s is string {
  return typeof s === 'string' && s.length <= OAUTH_STATE_KEY_MAX;
}

/** Validates an upsert's strings and sizes (ERR_BAD_INPUT), before any backend touches its data. */
export function checkOAuthStateUpsert(model: string, id: string, payload: string, index: OAuthStateIndex): void {
  if (!oauthKeyOk(model) || !oauthKeyOk(id)) {
    throw new GatewayError('ERR_BAD_INPUT', `storage: OAuth state model and id must be strings of at most ${OAUTH_STATE_KEY_MAX} characters`);
  }
  for (const v of [index.grantId, index.userCode, index.uid]) {
    if (v !== undefined && !oauthKeyOk(v)) {
      throw new GatewayError('ERR_BAD_INPUT', `storage: OAuth state index values must be strings of at most ${OAUTH_STATE_KEY_MAX} characters`);
    }
  }
  // UTF-8 never takes fewer bytes than UTF-16 code units, so the cheap length check goes first.
  if (typeof payload !== 'string' || payload.length > OAUTH_STATE_PAYLOAD_MAX_BYTES || Buffer.byteLength(payload, 'utf8') > OAUTH_STATE_PAYLOAD_MAX_BYTES) {
    throw new GatewayError('ERR_BAD_INPUT', `storage: OAuth state payload must be text of at most ${OAUTH_STATE_PAYLOAD_MAX_BYTES} bytes`, {
      detail: { model },
    });
  }
}

/** Floors and clamps a `list` limit to 0..OAUTH_STATE_LIST_MAX (NaN counts as 0). */
export function clampOAuthListLimit(limit: number): number {
  if (!Number.isFinite(limit)) return limit === Number.POSITIVE_INFINITY ? OAUTH_STATE_LIST_MAX : 0;
  return Math.min(Math.max(Math.floor(limit), 0), OAUTH_STATE_LIST_MAX);
}

interface Row {
  model: string;
  id: string;
  payload: string;
  expiresAtMs: number | undefined;
  consumedAtMs: number | undefined;
  grantId: string | undefined;
  userCode: string | undefined;
  uid: string | undefined;
}

function copyOut(r: Row): OAuthStateRecord {
  const out: OAuthStateRecord = { payload: r.payload };
  if (r.expiresAtMs !== undefined) out.expiresAt = new Date(r.expiresAtMs);
  if (r.consumedAtMs !== undefined) out.consumedAt = new Date(r.consumedAtMs);
  return out;
}

// Length-prefixed so no (model, id) pair can collide with another.
const keyOf = (model: string, id: string): string => `${model.length}:${model}${id}`;

/** Options of the memory backend (tests shrink the bound). */
export interface MemoryOAuthStateOptions {
  maxRecords?: number;
}

/** Volatile OAuth state; behaves as the SQL backends do, within its bound. */
export class MemoryOAuthStateStore implements OAuthStateStore {
  /** Insertion order is write order: the eviction tie-break. */
  readonly #rows = new Map<string, Row>();
  /** grantId → rows; `uid:`/`userCode:` + keyOf(model, value) → rows. */
  readonly #index = new Map<string, Set<Row>>();
  readonly #max: number;

  constructor(
    private readonly life: Lifecycle,
    opts: MemoryOAuthStateOptions = {},
  ) {
    this.#max = Math.max(1, Math.floor(opts.maxRecords ?? MEMORY_OAUTH_STATE_MAX));
  }

  async upsert(model: string, id: string, payload: string, expiresAt: Date | undefined, index: OAuthStateIndex): Promise<void> {
    this.life.assertOpen();
    checkOAuthStateUpsert(model, id, payload, index);
    const expiresAtMs = expiresAt === undefined ? undefined : toMs(expiresAt, 'expiresAt');
    const key = keyOf(model, id);
    const prev = this.#rows.get(key);
    if (prev) this.#remove(key, prev);
    else if (this.#rows.size >= this.#max) this.#makeRoom();
    const row: Row = {
      model,
      id,
      payload,
      expiresAtMs,
      consumedAtMs: prev?.consumedAtMs,
      grantId: index.grantId,
      userCode: index.userCode,
      uid: index.uid,
    };
    this.#rows.set(key, row);
    for (const ik of indexKeys(row)) {
      let s = this.#index.get(ik);
      if (!s) this.#index.set(ik, (s = new Set()));
      s.add(row);
    }
  }

  async find(model: string, id: string): Promise<OAuthStateRecord | undefined> {
    this.life.assertOpen();
    if (!oauthKeyOk(model) || !oauthKeyOk(id)) return undefined;
    const row = this.#live(keyOf(model, id), Date.now());
    return row ? copyOut(row) : undefined;
  }

  async findBy(model: string, key: 'uid' | 'userCode', value: string): Promise<OAuthStateRecord | undefined> {
    this.life.assertOpen();
    if (!oauthKeyOk(model) || !oauthKeyOk(value)) return undefined;
    const rows = this.#index.get(`${key}:${keyOf(model, value)}`);
    if (!rows) return undefined;
    const now = Date.now();
    for (const r of [...rows]) {
      if (this.#live(keyOf(r.model, r.id), now)) return copyOut(r);
    }
    return undefined;
  }

  async list(model: string, limit: number): Promise<Array<OAuthStateRecord & { id: string }>> {
    this.life.assertOpen();
    const n = clampOAuthListLimit(limit);
    const out: Array<OAuthStateRecord & { id: string }> = [];
    if (n === 0 || !oauthKeyOk(model)) return out;
    const now = Date.now();
    for (const [k, r] of this.#rows) {
      if (out.length >= n) break;
      if (r.model === model && this.#live(k, now)) out.push({ id: r.id, ...copyOut(r) });
    }
    return out;
  }

  async count(model: string): Promise<number> {
    this.life.assertOpen();
    if (!oauthKeyOk(model)) return 0;
    const now = Date.now();
    let n = 0;
    for (const r of this.#rows.values()) if (r.model === model && !expired(r, now)) n += 1;
    return n;
  }

  async consume(model: string, id: string, at: Date): Promise<void> {
    this.life.assertOpen();
    const atMs = toMs(at, 'at');
    if (!oauthKeyOk(model) || !oauthKeyOk(id)) return;
    const row = this.#rows.get(keyOf(model, id));
    if (row) row.consumedAtMs ??= atMs;
  }

  async destroy(model: string, id: string): Promise<void> {
    this.life.assertOpen();
    if (!oauthKeyOk(model) || !oauthKeyOk(id)) return;
    const key = keyOf(model, id);
    const row = this.#rows.get(key);
    if (row) this.#remove(key, row);
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    this.life.assertOpen();
    if (!oauthKeyOk(grantId)) return;
    const rows = this.#index.get(`grantId:${grantId}`);
    if (!rows) return;
    for (const r of [...rows]) this.#remove(keyOf(r.model, r.id), r);
  }

  async prune(now: Date): Promise<number> {
    this.life.assertOpen();
    return this.#pruneAt(toMs(now, 'now'));
  }

  #pruneAt(nowMs: number): number {
    let n = 0;
    for (const [k, r] of this.#rows) {
      if (expired(r, nowMs)) {
        this.#remove(k, r);
        n += 1;
      }
    }
    return n;
  }

  /** Frees at least one slot: expired records first, then the soonest to expire. */
  #makeRoom(): void {
    if (this.#pruneAt(Date.now()) > 0 && this.#rows.size < this.#max) return;
    // Evicting a batch amortises the sort over many inserts while the store stays full.
    const batch = Math.max(1, Math.ceil(this.#max / 100));
    const order = [...this.#rows].sort(([, a], [, b]) => (a.expiresAtMs ?? Number.POSITIVE_INFINITY) - (b.expiresAtMs ?? Number.POSITIVE_INFINITY) || 0);
    for (const [k, r] of order.slice(0, batch)) this.#remove(k, r);
  }

  #live(key: string, nowMs: number): Row | undefined {
    const row = this.#rows.get(key);
    if (!row) return undefined;
    if (expired(row, nowMs)) {
      this.#remove(key, row);
      return undefined;
    }
    return row;
  }

  #remove(key: string, row: Row): void {
    this.#rows.delete(key);
    for (const ik of indexKeys(row)) {
      const s = this.#index.get(ik);
      s?.delete(row);
      if (s?.size === 0) this.#index.delete(ik);
    }
  }
}

function indexKeys(r: Row): string[] {
  const out: string[] = [];
  if (r.grantId !== undefined) out.push(`grantId:${r.grantId}`);
  if (r.uid !== undefined) out.push(`uid:${keyOf(r.model, r.uid)}`);
  if (r.userCode !== undefined) out.push(`userCode:${keyOf(r.model, r.userCode)}`);
  return out;
}

function expired(r: Row, nowMs: number): boolean {
  return r.expiresAtMs !== undefined && r.expiresAtMs <= nowMs;
}
