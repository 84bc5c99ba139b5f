/**
 * The signing keys of one issuer, fetched from its JWKS endpoint and kept in memory.
 *
 * Bounds, because every unverified token can make us look up a key:
 * - every fetch (first load, unknown `kid`, refresh of an old set) is at most one per
 *   `cooldownMs`; concurrent callers share the fetch in flight, so a flood of tokens with random
 *   `kid`s costs at most one request per cooldown;
 * - a fetch has a deadline (`timeoutMs`) and a size cap (`maxBytes`), and follows no redirects;
 * - a set older than `maxAgeMs` is refetched; if that fails the old keys keep working until the
 *   set is `staleLimitMs` old, then verification fails closed.
 * A key that cannot be found while the endpoint is down is a 401 (`jwks-unavailable`), never a
 * pass: a token is only as good as a key we hold.
 */
import { createLocalJWKSet, errors, type CryptoKey, type FlattenedJWSInput, type JSONWebKeySet, type JWK, type JWSHeaderParameters, type LocalJWKSet } from 'jose';
import { invalidToken, type TokenLogger } from './errors.js';
import { fetchBounded, parseJsonObject } from './http.js';

/** Settings of one key source; only `issuer` and `uri` are required. */
export interface JwksSourceOptions {
  /** The issuer's configured name (logs and error detail). */
  issuer: string;
  uri: string;
  timeoutMs?: number;
  maxBytes?: number;
  cooldownMs?: number;
  maxAgeMs?: number;
  staleLimitMs?: number;
  /** Most keys accepted from one JWKS document. */
  maxKeys?: number;
  now?: () => number;
  logger?: TokenLogger;
}

/** Defaults of the key source bounds (ms, bytes, count). */
export const JWKS_DEFAULTS = {
  timeoutMs: 5_000,
  maxBytes: 256 * 1024,
  cooldownMs: 30_000,
  maxAgeMs: 10 * 60_000,
  staleLimitMs: 60 * 60_000,
  maxKeys: 100,
} as const;

// Members that only a private or symmetric key has: such a JWK never belongs in a verification set.
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k', 'priv'] as const;
const ASYMMETRIC_KTY = new Set(['RSA', 'EC', 'OKP']);

interface KeySet {
  resolve: LocalJWKSet;
  fetchedAt: number;
}

type RefreshOutcome = 'fetched' | 'failed' | 'cooldown';

/** A JWKS-backed key resolver for `jwtVerify`. */
export class JwksSource {
  readonly #o: Required<Omit<JwksSourceOptions, 'logger'>> & { logger: TokenLogger | undefined };
  #set: KeySet | undefined;
  #lastAttempt = Number.NEGATIVE_INFINITY;
  #inflight: Promise<RefreshOutcome> | undefined;

  constructor(opts: JwksSourceOptions) {
    this.#o = {
      ...JWKS_DEFAULTS,
      now: Date.now,
      ...stripUndefined(opts),
      logger: opts.logger,
    };
  }

  /**
   * The key for a token's protected header (the shape `jwtVerify` takes).
   * @throws GatewayError ERR_INVALID_TOKEN, reason `unknown-key` or `jwks-unavailable`; jose's
   *   own errors (e.g. several keys matching a header without `kid`) pass through.
   */
  readonly getKey = async (header: JWSHeaderParameters, token?: FlattenedJWSInput): Promise<CryptoKey> => {
    let set = this.#current();
    if (set === undefined || this.#o.now() - set.fetchedAt >= this.#o.maxAgeMs) {
      await this.#refresh();
      set = this.#current();
      if (set === undefined) throw invalidToken('jwks-unavailable', { issuer: this.#o.issuer });
    }
    try {
      return await set.resolve(header, token);
    } catch (e) {
      if (!(e instanceof errors.JWKSNoMatchingKey)) throw e;
    }
    // Unknown key: perhaps the issuer rotated. Ask again, but only as often as the cooldown allows.
    const outcome = await this.#refresh();
    if (outcome === 'failed') throw invalidToken('jwks-unavailable', { issuer: this.#o.issuer });
    const fresh = this.#current();
    if (outcome === 'cooldown' || fresh === undefined || fresh === set) throw invalidToken('unknown-key', { issuer: this.#o.issuer });
    try {
      return await fresh.resolve(header, token);
    } catch (e) {
      if (e instanceof errors.JWKSNoMatchingKey) throw invalidToken('unknown-key', { issuer: this.#o.issuer });
      throw e;
    }
  };

  /** The cached set, unless it is past the hard staleness limit (then it is dropped). */
  #current(): KeySet | undefined {
    const set = this.#set;
    if (set !== undefined && this.#o.now() - set.fetchedAt > this.#o.staleLimitMs) {
      this.#set = undefined;
      this.#o.logger?.warn({ issuer: this.#o.issuer }, 'JWKS keys expired after repeated refresh failures; rejecting tokens until the endpoint answers');
      return undefined;
    }
    return set;
  }

  /** Fetches the set if none is in flight and the cooldown has passed; never throws. */
  #refresh(): Promise<RefreshOutcome> {
    if (this.#inflight) return this.#inflight;
    const now = this.#o.now();
    if (now - this.#lastAttempt < this.#o.cooldownMs) return Promise.resolve('cooldown');
    this.#lastAttempt = now;
    const run = this.#load().then(
      (resolve): RefreshOutcome => {
        this.#set = { resolve, fetchedAt: this.#o.now() };
        return 'fetched';
      },
      (e: unknown): RefreshOutcome => {
        this.#o.logger?.warn({ issuer: this.#o.issuer, err: errorText(e) }, 'JWKS fetch failed');
        return 'failed';
      },
    );
    this.#inflight = run.finally(() => {
      this.#inflight = undefined;
    });
    return this.#inflight;
  }

  async #load(): Promise<LocalJWKSet> {
    const res = await fetchBounded(
      this.#o.uri,
      { method: 'GET', headers: { accept: 'application/jwk-set+json, application/json' } },
      { timeoutMs: this.#o.timeoutMs, maxBytes: this.#o.maxBytes },
    );
    if (res.status !== 200) throw new Error(`JWKS endpoint answered HTTP ${res.status}`);
    const doc = parseJsonObject(res.body);
    if (doc === undefined || !Array.isArray(doc.keys)) throw new Error('JWKS document is not a JSON object with a keys array');
    if (doc.keys.length > this.#o.maxKeys) throw new Error(`JWKS document has more than ${this.#o.maxKeys} keys`);
    const keys = (doc.keys as unknown[]).filter(isPublicVerificationJwk);
    if (keys.length < doc.keys.length) {
      this.#o.logger?.warn({ issuer: this.#o.issuer, skipped: doc.keys.length - keys.length }, 'JWKS entries that are not public asymmetric keys were ignored');
    }
    const jwks: JSONWebKeySet = { keys };
    return createLocalJWKSet(jwks);
  }
}

/**
 * Keys the gateway already holds in process (its own authorization server's published keys):
 * read through `load()` on each uncached verification, so rotation there is seen at once, and
 * never fetched over HTTP. An unknown `kid` is simply `unknown-key`.
 */
export class LocalKeySource {
  readonly #issuer: string;
  readonly #load: () => JSONWebKeySet;
  #lastJson = '';
  #set: LocalJWKSet | undefined;

  constructor(issuer: string, load: () => JSONWebKeySet) {
    this.#issuer = issuer;
    this.#load = load;
  }

  /** The key for a token's protected header (the shape `jwtVerify` takes). */
  readonly getKey = async (header: JWSHeaderParameters, token?: FlattenedJWSInput): Promise<CryptoKey> => {
    const keys = (this.#load().keys as unknown[]).filter(isPublicVerificationJwk);
    // Rebuilt only when the keys change, so imported keys stay cached between tokens.
    const json = JSON.stringify(keys);
    if (this.#set === undefined || json !== this.#lastJson) {
      this.#set = createLocalJWKSet({ keys });
      this.#lastJson = json;
    }
    try {
      return await this.#set(header, token);
    } catch (e) {
      if (e instanceof errors.JWKSNoMatchingKey) throw invalidToken('unknown-key', { issuer: this.#issuer });
      throw e;
    }
  };
}

function isPublicVerificationJwk(k: unknown): k is JWK {
  if (typeof k !== 'object' || k === null || Array.isArray(k)) return false;
  const jwk = k as Record<string, unknown>;
  if (typeof jwk.kty !== 'string' || !ASYMMETRIC_KTY.has(jwk.kty)) return false;
  return PRIVATE_MEMBERS.every((m) => !Object.hasOwn(jwk, m));
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

function errorText(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  const cause = e instanceof Error && e.cause instanceof Error ? `: ${e.cause.message}` : '';
  return `${msg}${cause}`.slice(0, 300);
}
