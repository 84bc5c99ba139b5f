/**
 * Gateway API keys: `pcl_<id>_<secret>`. The id (12 lowercase base32 characters, 60 random bits)
 * is public and names the stored record; the secret (32 random bytes, base64url) is shown once and
 * only its HMAC-SHA256 under the gateway's key-hash key is stored, so a leaked database cannot be
 * replayed as keys. Verification is one store read and one HMAC, compared in constant time;
 * nothing is cached, so a revocation takes effect on the very next call (security-checklist A2, A9).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { GatewayError } from '../../pipeline/errors.js';
import type { ApiKeyRecord, ApiKeyStore } from '../../storage/ports.js';
import { checkLabel, checkRoles, checkTenant, checkVirtualServers } from './principal-fields.js';

/** Every key starts with this; lets the authenticate stage tell keys from JWTs without parsing. */
export const API_KEY_PREFIX = 'pcl_';
const ID_LENGTH = 12;
const SECRET_BYTES = 32;
const SECRET_LENGTH = 43; // base64url of 32 bytes, unpadded
/** The exact length of every well-formed key; longer input is rejected before any other work. */
export const API_KEY_LENGTH = API_KEY_PREFIX.length + ID_LENGTH + 1 + SECRET_LENGTH;
/** Shortest key-hash key accepted, in bytes. */
export const MIN_HASH_KEY_BYTES = 32;
/** `touch` runs at most this often per key per process; last-use is a hint, not an audit record. */
export const TOUCH_INTERVAL_MS = 60_000;

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
// Anchored, fixed-length character classes only: linear time on any input.
const KEY_RE = /^pcl_([a-z2-7]{12})_([A-Za-z0-9_-]{43})$/;
const HASH_BYTES = 32;
const CREATE_ATTEMPTS = 3;

/** Why a presented key was refused; goes into `GatewayError.detail.reason`, never to the client. */
export type ApiKeyFailure = 'malformed' | 'unknown_key' | 'bad_secret' | 'revoked' | 'expired';

function refuse(reason: ApiKeyFailure, keyId?: string): GatewayError {
  // One message for every reason, so a caller cannot tell a wrong id from a revoked key.
  return new GatewayError('ERR_INVALID_TOKEN', undefined, { detail: keyId === undefined ? { reason } : { reason, keyId } });
}

function assertHashKey(hashKey: Buffer): void {
  if (!Buffer.isBuffer(hashKey) || hashKey.length < MIN_HASH_KEY_BYTES) {
    throw new GatewayError('ERR_INTERNAL', `API key hash key must be at least ${MIN_HASH_KEY_BYTES} bytes`);
  }
}

/** A fresh public key id: 12 base32 characters, unbiased (32 divides 256). */
function newId(): string {
  const bytes = randomBytes(ID_LENGTH);
  let id = '';
  for (const b of bytes) id += BASE32[b & 31];
  return id;
}

function hmac(hashKey: Buffer, secret: string): Buffer {
  return createHmac('sha256', hashKey).update(secret, 'utf8').digest();
}

/** The stored hash of a key's secret part: HMAC-SHA256(hashKey, secret), hex. */
export function hashApiKeySecret(hashKey: Buffer, secret: string): string {
  assertHashKey(hashKey);
  return hmac(hashKey, secret).toString('hex');
}

/** Splits a presented key into id and secret, or undefined when it is not exactly well-formed. */
export function parseApiKey(presented: unknown): { id: string; secret: string } | undefined {
  if (typeof presented !== 'string' || presented.length !== API_KEY_LENGTH) return undefined;
  const m = KEY_RE.exec(presented);
  return m ? { id: m[1]!, secret: m[2]! } : undefined;
}

/** Options for `createApiKey`. */
export interface CreateApiKeyOptions {
  /** Display name for admins; 1..128 characters, no control characters. */
  name: string;
  tenant: string;
  roles: readonly string[];
  /** Virtual servers the key may reach; empty means every endpoint its roles allow. */
  virtualServers: readonly string[];
  /** Must lie after `now`. Omitted: the key does not expire. */
  expiresAt?: Date;
  /** The creation time; defaults to the current time. */
  now?: Date;
}

/**
 * Mints a key and stores its record. The returned `key` is the only copy of the secret: show it
 * once and drop it. Rejects ERR_BAD_INPUT for invalid options.
 */
export async function createApiKey(store: ApiKeyStore, hashKey: Buffer, opts: CreateApiKeyOptions): Promise<{ key: string; record: ApiKeyRecord }> {
  assertHashKey(hashKey);
  const now = opts.now ?? new Date();
  const base = {
    name: checkLabel(opts.name, 'name'),
    tenant: checkTenant(opts.tenant),
    roles: checkRoles(opts.roles),
    virtualServers: checkVirtualServers(opts.virtualServers),
  };
  if (opts.expiresAt !== undefined) {
    const t = opts.expiresAt instanceof Date ? opts.expiresAt.getTime() : Number.NaN;
    if (!Number.isFinite(t) || t <= now.getTime()) throw new GatewayError('ERR_BAD_INPUT', 'expiresAt must be a valid date in the future');
  }
  for (let attempt = 1; ; attempt++) {
    const id = newId();
    const secret = randomBytes(SECRET_BYTES).toString('base64url');
    const record: ApiKeyRecord = { id, ...base, hash: hmac(hashKey, secret).toString('hex'), createdAt: new Date(now.getTime()) };
    if (opts.expiresAt !== undefined) record.expiresAt = new Date(opts.expiresAt.getTime());
    try {
      await store.create(record);
      return { key: `${API_KEY_PREFIX}${id}_${secret}`, record };
    } catch (e) {
      // 60 random bits make a collision freakishly rare; retrying keeps it from ever surfacing.
      if (!(e instanceof GatewayError && e.code === 'ERR_CONFLICT') || attempt >= CREATE_ATTEMPTS) throw e;
    }
  }
}

// Last touch time per key, per store: a process may hold several stores (tests, reloads).
const lastTouch = new WeakMap<ApiKeyStore, Map<string, number>>();
const TOUCH_MAP_SWEEP_AT = 10_000;

function shouldTouch(store: ApiKeyStore, id: string, nowMs: number): boolean {
  let m = lastTouch.get(store);
  if (!m) lastTouch.set(store, (m = new Map()));
  const prev = m.get(id);
  if (prev !== undefined && nowMs - prev < TOUCH_INTERVAL_MS && nowMs >= prev) return false;
  if (m.size >= TOUCH_MAP_SWEEP_AT) {
    // Entries older than the interval carry no information any more; dropping them bounds the map.
    for (const [k, t] of m) if (nowMs - t >= TOUCH_INTERVAL_MS) m.delete(k);
  }
  m.set(id, nowMs);
  return true;
}

/** Options for `verifyApiKey`. */
export interface VerifyApiKeyOptions {
  /** Receives a failed last-use write (which never fails the call); default: ignored. */
  onTouchError?: (err: unknown, keyId: string) => void;
}

// A well-formed hash compared when the id is unknown, so that path also does one HMAC and one
// constant-time comparison.
const DUMMY_HASH = Buffer.alloc(HASH_BYTES);

/**
 * Verifies a presented key at time `now` and resolves to its record. Every refusal is
 * ERR_INVALID_TOKEN with the same message; `detail.reason` says why (for logs and audit).
 * Last use is recorded at most once per TOUCH_INTERVAL_MS per key, without waiting for it.
 */
export async function verifyApiKey(store: ApiKeyStore, hashKey: Buffer, presented: string, now: Date, opts: VerifyApiKeyOptions = {}): Promise<ApiKeyRecord> {
  assertHashKey(hashKey);
  const parts = parseApiKey(presented);
  if (!parts) throw refuse('malformed');
  const record = await store.get(parts.id);
  const computed = hmac(hashKey, parts.secret);
  const stored = record ? Buffer.from(record.hash, 'hex') : DUMMY_HASH;
  // A stored hash of the wrong length (corruption) is a mismatch, not a RangeError from timingSafeEqual.
  const sameLength = stored.length === computed.length;
  const equal = timingSafeEqual(computed, sameLength ? stored : computed) && sameLength;
  if (!record) throw refuse('unknown_key', parts.id);
  if (!equal) throw refuse('bad_secret', parts.id);
  if (record.revokedAt !== undefined) throw refuse('revoked', parts.id);
  if (record.expiresAt !== undefined && record.expiresAt.getTime() <= now.getTime()) throw refuse('expired', parts.id);
  if (shouldTouch(store, record.id, now.getTime())) {
    const onError = opts.onTouchError;
    store.touch(record.id, now).catch((e: unknown) => onError?.(e, record.id));
  }
  return record;
}
