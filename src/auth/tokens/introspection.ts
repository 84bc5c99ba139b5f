/**
 * RFC 7662 token introspection for opaque access tokens: the gateway asks the issuer whether a
 * token is active, authenticating with client_secret_basic. "Not active" (or active but issued by
 * someone else, or for another audience) is a 401; not being able to ask is a 503
 * (ERR_AUTH_UNAVAILABLE), because the token may well be valid.
 */
import { describeRef, type ResolveSecret } from '../secrets/ref.js';
import type { IntrospectionConfig } from './config.js';
import { authUnavailable, invalidToken, type TokenLogger } from './errors.js';
import { fetchBounded, HttpFetchError, parseJsonObject } from './http.js';

/** One issuer's introspection endpoint and what its answers must satisfy. */
export interface IntrospectionClientOptions {
  /** The issuer's configured name (logs, errors). */
  name: string;
  /** Exact expected `iss`, checked when the answer carries one. */
  issuer: string;
  audiences: readonly string[];
  clockSkewMs: number;
  /** Upper bound of how long an answer may be reused (ms), applied on top of `exp`. */
  cacheTtlMs: number;
  config: Pick<IntrospectionConfig, 'url' | 'clientId' | 'clientSecret'>;
  resolveSecret: ResolveSecret;
  timeoutMs?: number;
  maxBytes?: number;
  /** Requests allowed in flight at once; beyond that callers get ERR_AUTH_UNAVAILABLE. */
  maxInFlight?: number;
  now?: () => number;
  logger?: TokenLogger;
}

/** An active token's claims and times (ms since epoch). */
export interface IntrospectionResult {
  claims: Record<string, unknown>;
  /** The token's `exp`, or (answer without `exp`) how long the answer is trusted: now + cacheTtl. */
  expiresAt: number;
  /** Until when this answer may be reused: min(`exp`, now + cacheTtl). */
  cacheUntil: number;
}

/** Asks one issuer about opaque tokens. */
export class IntrospectionClient {
  readonly #o: IntrospectionClientOptions;
  readonly #now: () => number;
  #inFlight = 0;

  constructor(opts: IntrospectionClientOptions) {
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
  }

  /** The issuer's configured name. */
  get name(): string {
    return this.#o.name;
  }

  /**
   * Introspects `token`.
   * @throws GatewayError ERR_INVALID_TOKEN (`inactive`, `issuer`, `audience`, `expired`,
   *   `not-yet-valid`, `type`, `malformed`) or ERR_AUTH_UNAVAILABLE.
   */
  async introspect(token: string): Promise<IntrospectionResult> {
    const max = this.#o.maxInFlight ?? 64;
    if (this.#inFlight >= max) throw authUnavailable(this.#o.name);
    this.#inFlight++;
    let answer: Record<string, unknown>;
    try {
      answer = await this.#ask(token);
    } finally {
      this.#inFlight--;
    }
    return this.#judge(answer);
  }

  async #ask(token: string): Promise<Record<string, unknown>> {
    const { url, clientId, clientSecret } = this.#o.config;
    let secret: string;
    try {
      secret = await this.#o.resolveSecret(clientSecret);
    } catch (e) {
      this.#o.logger?.warn({ issuer: this.#o.name, secretRef: describeRef(clientSecret) }, 'introspection client secret could not be resolved');
      throw authUnavailable(this.#o.name, e);
    }
    // RFC 6749 2.3.1: id and secret are form-encoded before they are joined and base64-encoded.
    const basic = Buffer.from(`${formEncode(clientId)}:${formEncode(secret)}`).toString('base64');
    let res;
    try {
      res = await fetchBounded(
        url,
        {
          method: 'POST',
          headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
          body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
        },
        { timeoutMs: this.#o.timeoutMs ?? 5_000, maxBytes: this.#o.maxBytes ?? 64 * 1024 },
      );
    } catch (e) {
      const err = e instanceof HttpFetchError ? e.message : 'request failed';
      this.#o.logger?.warn({ issuer: this.#o.name, err }, 'introspection request failed');
      throw authUnavailable(this.#o.name, e);
    }
    if (res.status !== 200) {
      this.#o.logger?.warn({ issuer: this.#o.name, status: res.status }, 'introspection endpoint answered with an error status');
      throw authUnavailable(this.#o.name);
    }
    const answer = parseJsonObject(res.body);
    if (answer === undefined) {
      this.#o.logger?.warn({ issuer: this.#o.name }, 'introspection answer is not a JSON object');
      throw authUnavailable(this.#o.name);
    }
    return answer;
  }

  #judge(a: Record<string, unknown>): IntrospectionResult {
    if (a.active !== true) throw invalidToken('inactive', { issuer: this.#o.name });
    if (a.iss !== undefined && a.iss !== this.#o.issuer) throw invalidToken('issuer', { issuer: this.#o.name });
    if (a.aud !== undefined && !audienceMatches(a.aud, this.#o.audiences)) throw invalidToken('audience', { issuer: this.#o.name });
    if (typeof a.token_type === 'string' && a.token_type.toLowerCase() === 'refresh_token') throw invalidToken('type', { issuer: this.#o.name });
    const now = this.#now();
    const skew = this.#o.clockSkewMs;
    const exp = numericDate(a, 'exp');
    const nbf = numericDate(a, 'nbf');
    if (exp !== undefined && exp * 1000 <= now - skew) throw invalidToken('expired', { issuer: this.#o.name });
    if (nbf !== undefined && nbf * 1000 > now + skew) throw invalidToken('not-yet-valid', { issuer: this.#o.name });
    const cap = now + this.#o.cacheTtlMs;
    if (exp === undefined) return { claims: a, expiresAt: cap, cacheUntil: cap };
    return { claims: a, expiresAt: exp * 1000, cacheUntil: Math.min(exp * 1000, cap) };
  }
}

function numericDate(a: Record<string, unknown>, claim: 'exp' | 'nbf'): number | undefined {
  const v = a[claim];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw invalidToken('malformed', { claim });
  return v;
}

function audienceMatches(aud: unknown, accepted: readonly string[]): boolean {
  if (typeof aud === 'string') return accepted.includes(aud);
  if (Array.isArray(aud)) return aud.some((x) => typeof x === 'string' && accepted.includes(x));
  return false;
}

function formEncode(s: string): string {
  return new URLSearchParams({ v: s }).toString().slice(2);
}
