/**
 * Credentials toward one HTTP upstream, as headers for each request. Static secrets (bearer,
 * header) are re-resolved at most every 60 s; OAuth tokens (client credentials, token exchange)
 * are cached until shortly before they expire, fetched once for any number of concurrent
 * callers, and dropped on `invalidate` (the upstream answered 401).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from '../../observability/logger.js';
import { GatewayError } from '../../pipeline/errors.js';
import { describeRef, type ResolveSecret } from '../secrets/ref.js';
import { tokenUrlProblem, type ClientCredentialsAuth, type TokenExchangeAuth, type UpstreamAuth } from './config.js';
import { clientAuth, fetchTokenHttp, requestToken, type FetchToken } from './token-endpoint.js';

/** Who the request is for. */
export interface CredentialContext {
  /** Stable key of the principal (tenant + subject); only token exchange uses it. */
  principalKey: string;
  /** The caller's verified incoming OAuth access token (token exchange only). */
  subjectToken?: string;
}

export interface UpstreamCredentials {
  /** Headers to add to an upstream request (lowercase names); `{}` when none are configured. */
  headers(ctx: CredentialContext): Promise<Record<string, string>>;
  /**
   * Forgets the cached credential for `ctx` so the next `headers` fetches or re-reads it. Pass the
   * headers the upstream rejected to drop only that credential: a token fetched since (by another
   * caller's retry) is then kept.
   */
  invalidate(ctx: CredentialContext, rejected?: Record<string, string>): void;
  /** Non-secret description of the credential, e.g. `bearer:env:GH_TOKEN`; '' for none. */
  readonly authContext: string;
}

export interface CredentialDeps {
  resolveSecret: ResolveSecret;
  /** Replaces the HTTP call to the token endpoint (tests, a future egress guard). */
  fetchToken?: FetchToken;
  /** Clock in ms (tests). */
  now?: () => number;
  logger?: Logger;
}

/** How long a resolved static secret is reused. */
export const STATIC_TTL_MS = 60_000;
/** A token is refreshed this long before it expires... */
export const EXPIRY_MARGIN_MS = 30_000;
/** ...but kept at least this long, and at most a day. */
export const MIN_TOKEN_TTL_MS = 5_000;
const MAX_TOKEN_TTL_MS = 24 * 3_600_000;
/** Most cached exchanged tokens (principal × subject token). */
export const EXCHANGE_CACHE_MAX = 1_000;

const sha256 = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();
const sameSecret = (a: string, b: string): boolean => timingSafeEqual(sha256(a), sha256(b));

/** One cached credential: its headers, when they stop being used, and the fetch in flight. */
interface Slot {
  headers?: Record<string, string>;
  expiresAt: number;
  pending?: Promise<Record<string, string>>;
}

/** Returns the slot's headers, fetching once for every concurrent caller when stale. */
function fill(slot: Slot, now: () => number, fetch: () => Promise<{ headers: Record<string, string>; ttlMs: number }>): Promise<Record<string, string>> {
  if (slot.headers && now() < slot.expiresAt) return Promise.resolve({ ...slot.headers });
  if (!slot.pending) {
    const p = fetch()
      .then(({ headers, ttlMs }) => {
        slot.headers = headers;
        slot.expiresAt = now() + ttlMs;
        return headers;
      })
      .finally(() => {
        if (slot.pending === p) delete slot.pending;
      });
    slot.pending = p;
  }
  return slot.pending.then((h) => ({ ...h }));
}

/** Drops a slot's credential unless `rejected` names another one. */
function drop(slot: Slot | undefined, rejected: Record<string, string> | undefined): void {
  if (!slot?.headers) return;
  if (rejected) {
    const [name, value] = Object.entries(slot.headers)[0] ?? [];
    const other = name === undefined ? undefined : Object.entries(rejected).find(([k]) => k.toLowerCase() === name)?.[1];
    if (value === undefined || other === undefined || !sameSecret(value, other)) return;
  }
  delete slot.headers;
  slot.expiresAt = 0;
}

function tokenTtlMs(expiresInSec: number): number {
  return Math.min(MAX_TOKEN_TTL_MS, Math.max(MIN_TOKEN_TTL_MS, expiresInSec * 1000 - EXPIRY_MARGIN_MS));
}

const NONE: UpstreamCredentials = { authContext: '', headers: async () => ({}), invalidate: () => {} };

/** A short digest of the non-secret request parameters, so two configs that differ get different contexts. */
function paramsTag(c: { scope?: string; resource?: string; audience?: string }): string {
  if (c.scope === undefined && c.resource === undefined && c.audience === undefined) return '';
  return `#${sha256(JSON.stringify([c.scope ?? null, c.resource ?? null, c.audience ?? null])).toString('hex').slice(0, 8)}`;
}

/** The non-secret description of a config; equal configs give equal strings. */
export function authContextOf(cfg: UpstreamAuth | undefined): string {
  if (!cfg) return '';
  switch (cfg.type) {
    case 'bearer':
      return `bearer:${describeRef(cfg.token)}`;
    case 'header':
      return `header:${cfg.name.toLowerCase()}:${describeRef(cfg.value)}`;
    case 'client-credentials':
    case 'token-exchange':
      return `${cfg.type}:${cfg.clientId}@${cfg.tokenUrl}${paramsTag(cfg)}`;
    case 'oauth':
      return `oauth:${cfg.clientId ?? cfg.clientMetadataUrl ?? 'dcr'}${paramsTag(cfg)}`;
  }
}

function staticCredentials(cfg: Extract<UpstreamAuth, { type: 'bearer' | 'header' }>, deps: CredentialDeps, now: () => number): UpstreamCredentials {
  const slot: Slot = { expiresAt: 0 };
  const ref = cfg.type === 'bearer' ? cfg.token : cfg.value;
  const name = cfg.type === 'bearer' ? 'authorization' : cfg.name.toLowerCase();
  const fetch = async (): Promise<{ headers: Record<string, string>; ttlMs: number }> => {
    const v = await deps.resolveSecret(ref);
    // Bearer tokens have no spaces; other header values may, but never control characters or edge whitespace.
    const ok = cfg.type === 'bearer' ? /^[\x21-\x7e]+$/.test(v) : !/[^\t\x20-\x7e]/.test(v) && v.trim() === v && v !== '';
    if (!ok) throw new GatewayError('ERR_UPSTREAM_CREDENTIALS', `secret ${describeRef(ref)}: not usable as an HTTP header value`, { detail: { ref: describeRef(ref) } });
    return { headers: { [name]: cfg.type === 'bearer' ? `Bearer ${v}` : v }, ttlMs: STATIC_TTL_MS };
  };
  return {
    authContext: authContextOf(cfg),
    headers: () => fill(slot, now, fetch),
    invalidate: (_ctx, rejected) => drop(slot, rejected),
  };
}

function clientCredentials(cfg: ClientCredentialsAuth, deps: CredentialDeps, now: () => number, fetchToken: FetchToken): UpstreamCredentials {
  const slot: Slot = { expiresAt: 0 };
  const authContext = authContextOf(cfg);
  const fetch = async (): Promise<{ headers: Record<string, string>; ttlMs: number }> => {
    const secret = await deps.resolveSecret(cfg.clientSecret);
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (cfg.scope !== undefined) form.set('scope', cfg.scope);
    if (cfg.resource !== undefined) form.set('resource', cfg.resource);
    if (cfg.audience !== undefined) form.set('audience', cfg.audience);
    const auth = clientAuth(cfg.authMethod, cfg.clientId, secret, form);
    const t = await logged(requestToken(fetchToken, cfg.tokenUrl, form, auth), deps.logger, authContext);
    return { headers: { authorization: `Bearer ${t.accessToken}` }, ttlMs: tokenTtlMs(t.expiresInSec) };
  };
  return { authContext, headers: () => fill(slot, now, fetch), invalidate: (_ctx, rejected) => drop(slot, rejected) };
}

function tokenExchange(cfg: TokenExchangeAuth, deps: CredentialDeps, now: () => number, fetchToken: FetchToken): UpstreamCredentials {
  // Map order is recency order: a hit moves its entry to the end, the front is evicted.
  const slots = new Map<string, Slot>();
  const authContext = authContextOf(cfg);
  const keyOf = (ctx: CredentialContext, subject: string): string => `${ctx.principalKey}\n${sha256(subject).toString('hex')}`;
  return {
    authContext,
    headers(ctx) {
      const subject = ctx.subjectToken;
      if (subject === undefined || subject === '') {
        return Promise.reject(
          new GatewayError('ERR_UPSTREAM_AUTH_REQUIRED', 'This upstream acts on behalf of the caller and needs the caller to sign in with an OAuth access token'),
        );
      }
      const key = keyOf(ctx, subject);
      let slot = slots.get(key);
      if (slot) slots.delete(key);
      else slot = { expiresAt: 0 };
      slots.set(key, slot);
      while (slots.size > EXCHANGE_CACHE_MAX) slots.delete(slots.keys().next().value as string);
      return fill(slot, now, async () => {
        const secret = await deps.resolveSecret(cfg.clientSecret);
        const form = new URLSearchParams({
          grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
          subject_token: subject,
          subject_token_type: cfg.subjectTokenType,
        });
        if (cfg.audience !== undefined) form.set('audience', cfg.audience);
        if (cfg.resource !== undefined) form.set('resource', cfg.resource);
        if (cfg.scope !== undefined) form.set('scope', cfg.scope);
        const auth = clientAuth(cfg.authMethod, cfg.clientId, secret, form);
        const t = await logged(requestToken(fetchToken, cfg.tokenUrl, form, auth), deps.logger, authContext);
        return { headers: { authorization: `Bearer ${t.accessToken}` }, ttlMs: tokenTtlMs(t.expiresInSec) };
      });
    },
    invalidate(ctx, rejected) {
      if (ctx.subjectToken) return drop(slots.get(keyOf(ctx, ctx.subjectToken)), rejected);
      // Without the subject token, forget every token of the principal.
      for (const [k, s] of slots) if (k.startsWith(`${ctx.principalKey}\n`)) drop(s, rejected);
    },
  };
}

/** Logs the outcome of a token request (never the token) and passes it through. */
async function logged<T extends { expiresInSec: number }>(p: Promise<T>, logger: Logger | undefined, authContext: string): Promise<T> {
  try {
    const t = await p;
    logger?.debug({ upstreamAuth: authContext, expiresIn: t.expiresInSec }, 'upstream.token_issued');
    return t;
  } catch (e) {
    logger?.warn({ upstreamAuth: authContext, err: e instanceof GatewayError ? { message: e.message, ...e.detail } : undefined }, 'upstream.token_failed');
    throw e;
  }
}

/**
 * Builds the credentials of one upstream. Throws (ERR_BAD_INPUT) when a token endpoint URL is
 * unacceptable, which the config schema already refuses.
 */
export function createUpstreamCredentials(cfg: UpstreamAuth | undefined, deps: CredentialDeps): UpstreamCredentials {
  if (!cfg) return NONE;
  const now = deps.now ?? Date.now;
  if (cfg.type === 'bearer' || cfg.type === 'header') return staticCredentials(cfg, deps, now);
  // The authorization-code client lives in src/auth/upstream-oauth (it needs the secret store and a callback).
  if (cfg.type === 'oauth') throw new GatewayError('ERR_BAD_INPUT', 'oauth credentials are built by UpstreamOAuth, not here');
  const problem = tokenUrlProblem(cfg.tokenUrl);
  if (problem) throw new GatewayError('ERR_BAD_INPUT', `token endpoint ${problem}`);
  const fetchToken = deps.fetchToken ?? fetchTokenHttp;
  return cfg.type === 'client-credentials' ? clientCredentials(cfg, deps, now, fetchToken) : tokenExchange(cfg, deps, now, fetchToken);
}
