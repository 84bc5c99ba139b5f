/**
 * The gateway's access-token check as an OAuth resource server. One TokenVerifier holds the
 * trusted issuers, their key sources and introspection clients, and a cache of successful
 * verifications. A JWT is routed by its (not yet trusted) `iss` to exactly one issuer, whose
 * keys and rules then decide. An opaque token is introspected at exactly one issuer, chosen
 * before any request from the token itself (`introspection.tokenPrefix`, else the one issuer
 * without a prefix): a client's token is never shown to another issuer (no token passthrough).
 */
import type { Principal } from '../../pipeline/context.js';
import { parseDuration } from '../../config/units.js';
import type { JSONWebKeySet, JWTPayload } from 'jose';
import type { ResolveSecret } from '../secrets/ref.js';
import { TokenCache, tokenKey, type TokenCacheOptions } from './cache.js';
import { mapClaims } from './claims.js';
import { introspectionRoutingProblems, type TrustedIssuerConfig } from './config.js';
import { invalidToken, type TokenLogger } from './errors.js';
import { IntrospectionClient, type IntrospectionClientOptions } from './introspection.js';
import { JwksSource, LocalKeySource, type JwksSourceOptions } from './jwks.js';
import { verifyJwt, type JwtCheck } from './jwt.js';

/** Longest token accepted (characters); longer ones are refused before any work. */
export const MAX_TOKEN_LENGTH = 16 * 1024;

/** What a successful verification yields. */
export interface VerifiedToken {
  /** Frozen; shared by every call presenting the same token. */
  principal: Principal;
  /** When the token stops being valid (ms since epoch). */
  expiresAt: number;
  scopes: string[];
  /** The token's `aud` values ([] when an introspection answer names none). */
  audiences: readonly string[];
  /** True when the issuer has its own configured `audiences` (one API audience, not per-endpoint resource URIs). */
  issuerAudience: boolean;
}

/** What a TokenVerifier is built from. */
export interface TokenVerifierOptions {
  /** Parsed `TrustedIssuer` entries; names and `issuer` values must be unique. */
  issuers: readonly TrustedIssuerConfig[];
  /** The gateway's canonical resource URIs, used for issuers without their own `audiences`. */
  defaultAudiences: readonly string[];
  resolveSecret: ResolveSecret;
  logger?: TokenLogger;
  now?: () => number;
  cache?: TokenCacheOptions;
  /** Tuning of every issuer's key source (tests shorten the cooldown). */
  jwks?: Partial<Pick<JwksSourceOptions, 'timeoutMs' | 'maxBytes' | 'cooldownMs' | 'maxAgeMs' | 'staleLimitMs' | 'maxKeys'>>;
  /**
   * Issuers whose keys the gateway holds in process (its own authorization server), by exact
   * `iss`: their JWTs are verified with these keys and no JWKS is fetched.
   */
  localKeys?: Readonly<Record<string, () => JSONWebKeySet>>;
  /** Tuning of every introspection client. */
  introspection?: Partial<Pick<IntrospectionClientOptions, 'timeoutMs' | 'maxBytes' | 'maxInFlight'>>;
}

interface IssuerRuntime {
  config: TrustedIssuerConfig;
  check: JwtCheck;
  keys: JwksSource | LocalKeySource | undefined;
  introspector: IntrospectionClient | undefined;
}

interface Cached {
  principal: Principal;
  expiresAt: number;
  scopes: readonly string[];
  audiences: readonly string[];
  issuerAudience: boolean;
}

const B64URL = /^[A-Za-z0-9_-]+$/;
const B64URL_OR_EMPTY = /^[A-Za-z0-9_-]*$/;

/** Verifies bearer tokens against the trusted issuers. */
export class TokenVerifier {
  readonly #byIss = new Map<string, IssuerRuntime>();
  /** Introspecting issuers with a `tokenPrefix`, longest prefix first. */
  readonly #prefixed: { prefix: string; rt: IssuerRuntime }[] = [];
  /** The one introspecting issuer without a `tokenPrefix`, if any. */
  #unprefixed: IssuerRuntime | undefined;
  readonly #cache: TokenCache<Cached>;
  readonly #inflight = new Map<string, Promise<Cached>>();
  readonly #now: () => number;

  constructor(opts: TokenVerifierOptions) {
    this.#now = opts.now ?? Date.now;
    this.#cache = new TokenCache<Cached>(opts.cache);
    // Fail closed at start, as the config schema does: an opaque token must route to one issuer only.
    const routing = introspectionRoutingProblems(opts.issuers);
    if (routing.length > 0) throw new Error(`trusted issuers: ${routing.map((p) => p.message).join('; ')}`);
    const names = new Set<string>();
    for (const config of opts.issuers) {
      if (names.has(config.name)) throw new Error(`trusted issuer "${config.name}" is listed twice`);
      if (this.#byIss.has(config.issuer)) throw new Error(`trusted issuer "${config.name}": issuer ${config.issuer} is listed twice`);
      names.add(config.name);
      const audiences = [...(config.audiences ?? opts.defaultAudiences)];
      // Fail closed at start: an issuer without audiences would otherwise accept tokens minted for anyone.
      if (audiences.length === 0) throw new Error(`trusted issuer "${config.name}" has no audiences and no default audiences were given`);
      const clockSkewMs = parseDuration(config.clockSkew);
      const rt: IssuerRuntime = {
        config,
        check: { issuer: config.issuer, audiences, algorithms: config.algorithms, clockSkewMs, ...(config.requireTyp !== undefined ? { typ: config.requireTyp } : {}) },
        keys: this.#keySource(config, opts),
        introspector:
          config.introspection === undefined
            ? undefined
            : new IntrospectionClient({
                ...opts.introspection,
                name: config.name,
                issuer: config.issuer,
                audiences,
                clockSkewMs,
                cacheTtlMs: parseDuration(config.introspection.cacheTtl),
                config: config.introspection,
                resolveSecret: opts.resolveSecret,
                now: this.#now,
                ...(opts.logger ? { logger: opts.logger } : {}),
              }),
      };
      this.#byIss.set(config.issuer, rt);
      if (rt.introspector) {
        const prefix = config.introspection?.tokenPrefix;
        if (prefix === undefined) this.#unprefixed = rt;
        else this.#prefixed.push({ prefix, rt });
      }
    }
    this.#prefixed.sort((a, b) => b.prefix.length - a.prefix.length);
  }

  /**
   * Verifies a bearer token.
   * @throws GatewayError ERR_INVALID_TOKEN (401, `detail.reason` says why) or
   *   ERR_AUTH_UNAVAILABLE (503: introspection could not be reached).
   */
  async verify(token: string): Promise<VerifiedToken> {
    if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) throw invalidToken('malformed');
    const key = tokenKey(token);
    const hit = this.#cache.get(key, this.#now());
    if (hit !== undefined) return result(hit);
    let pending = this.#inflight.get(key);
    if (pending === undefined) {
      pending = this.#verifyUncached(token, key).finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, pending);
    }
    return result(await pending);
  }

  /** Forgets cached verifications. Nothing else holds resources: fetches carry their own deadlines. */
  close(): void {
    this.#cache.clear();
  }

  async #verifyUncached(token: string, key: string): Promise<Cached> {
    const routed = jwtIssuer(token);
    if (routed === 'not-jwt') return this.#introspectOpaque(token, key);
    const rt = routed === undefined ? undefined : this.#byIss.get(routed);
    if (rt === undefined) throw invalidToken('issuer');
    if (rt.keys === undefined) return this.#introspectAt(rt, token, key);
    const payload = await verifyJwt(token, rt.keys.getKey, rt.check, this.#now());
    const expiresAt = (payload.exp as number) * 1000;
    return this.#remember(key, this.#entry(rt, payload, expiresAt), expiresAt);
  }

  async #introspectAt(rt: IssuerRuntime, token: string, key: string): Promise<Cached> {
    if (rt.introspector === undefined) throw invalidToken('issuer');
    const r = await rt.introspector.introspect(token);
    return this.#remember(key, this.#entry(rt, r.claims, r.expiresAt), r.cacheUntil);
  }

  /**
   * Opaque token: introspected at the one issuer whose `tokenPrefix` it starts with (longest
   * first, though the config refuses overlapping prefixes), else at the one introspecting issuer
   * without a prefix. That issuer's answer is final: "inactive" or "unavailable" never moves on to
   * another issuer, and a token no issuer claims is refused without any request.
   */
  async #introspectOpaque(token: string, key: string): Promise<Cached> {
    if (this.#prefixed.length === 0 && this.#unprefixed === undefined) throw invalidToken('malformed');
    const rt = this.#prefixed.find((p) => token.startsWith(p.prefix))?.rt ?? this.#unprefixed;
    if (rt === undefined) throw invalidToken('issuer');
    return this.#introspectAt(rt, token, key);
  }

  #keySource(config: TrustedIssuerConfig, opts: TokenVerifierOptions): JwksSource | LocalKeySource | undefined {
    const local = opts.localKeys !== undefined && Object.hasOwn(opts.localKeys, config.issuer) ? opts.localKeys[config.issuer] : undefined;
    if (local !== undefined) return new LocalKeySource(config.name, local);
    if (config.jwksUri === undefined) return undefined;
    return new JwksSource({ ...opts.jwks, issuer: config.name, uri: config.jwksUri, now: this.#now, ...(opts.logger ? { logger: opts.logger } : {}) });
  }

  #entry(rt: IssuerRuntime, claims: JWTPayload, expiresAt: number): Cached {
    const { principal, scopes } = mapClaims(claims, rt.config);
    const aud = claims.aud;
    const audiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : [];
    return { principal, expiresAt, scopes: Object.freeze(scopes), audiences: Object.freeze(audiences), issuerAudience: rt.config.audiences !== undefined };
  }

  #remember(key: string, v: Cached, cacheUntil: number): Cached {
    this.#cache.set(key, v, cacheUntil, this.#now());
    return v;
  }
}

function result(v: Cached): VerifiedToken {
  return { principal: v.principal, expiresAt: v.expiresAt, scopes: [...v.scopes], audiences: v.audiences, issuerAudience: v.issuerAudience };
}

/**
 * The `iss` of a JWT-shaped token, read without verification and used only to pick the issuer
 * whose rules then verify it: `'not-jwt'` when the token is not a compact JWS with a JSON header,
 * undefined when it is one but has no string `iss`.
 */
function jwtIssuer(token: string): string | undefined | 'not-jwt' {
  const parts = token.split('.', 4);
  if (parts.length !== 3) return 'not-jwt';
  const [h, p, s] = parts as [string, string, string];
  if (!B64URL.test(h) || !B64URL_OR_EMPTY.test(p) || !B64URL_OR_EMPTY.test(s)) return 'not-jwt';
  const header = decodeSegment(h);
  if (header === undefined || typeof header.alg !== 'string') return 'not-jwt';
  const payload = decodeSegment(p);
  if (payload === undefined) throw invalidToken('malformed');
  return typeof payload.iss === 'string' ? payload.iss : undefined;
}

function decodeSegment(seg: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(seg, 'base64url').toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const BEARER = /^bearer +([A-Za-z0-9._~+/-]+=*)$/i;

/**
 * The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1: case-insensitive scheme,
 * one b64token), or undefined for anything else: another scheme, no token, several tokens,
 * characters outside the token68 set, or a token longer than MAX_TOKEN_LENGTH.
 */
export function bearerFrom(header: string | undefined): string | undefined {
  if (typeof header !== 'string' || header.length > MAX_TOKEN_LENGTH + 64) return undefined;
  const token = BEARER.exec(header)?.[1];
  return token !== undefined && token.length <= MAX_TOKEN_LENGTH ? token : undefined;
}
