/**
 * Federated sign-in at the built-in authorization server: "Sign in with <provider>" sends the
 * browser to an external OpenID Connect provider (authorization code + PKCE S256 + nonce + state)
 * and maps the ID token it returns onto a gateway account `<name>:<sub>`.
 *
 * The per-sign-in secrets (state, nonce, PKCE verifier) stay server-side, bound to the interaction
 * uid, in a bounded map that forgets them after ten minutes; the `state` the provider echoes back
 * is the lookup key and is consumed on first use. openid-client checks the RFC 9207 `iss`
 * parameter (required when the provider advertises it), the ID token signature, `aud`, `nonce` and
 * lifetime. Provider metadata is discovered on first use (and warmed up at start) and cached; a
 * provider that cannot be reached only disables its own button, never the local login.
 */
import {
  allowInsecureRequests,
  authorizationCodeGrant,
  AuthorizationResponseError,
  buildAuthorizationUrl,
  calculatePKCECodeChallenge,
  ClientSecretBasic,
  ClientSecretPost,
  customFetch,
  discovery,
  fetchUserInfo,
  None,
  randomNonce,
  randomPKCECodeVerifier,
  randomState,
  ResponseBodyError,
  type ClientAuth,
  type Configuration,
} from 'openid-client';
import { GatewayError } from '../../pipeline/errors.js';
import { describeRef, type ResolveSecret } from '../secrets/ref.js';
import { mapFederatedClaims, missingClaims, type MappedAccount } from './federation-claims.js';
import { isLoopbackHostname, type FederationEntry } from './federation-config.js';
import { createFederationFetch, type FederationFetch } from './federation-fetch.js';
import { TtlMap } from './ttl-map.js';

/** The fixed callback path of every provider (under `/interaction/`, which the AS already owns). */
export const FEDERATION_CALLBACK_PATH = '/interaction/callback/federated';
/** How long a started federated sign-in may take. */
export const FEDERATION_PENDING_TTL_MS = 10 * 60_000;
/** Most federated sign-ins in flight at once (the oldest is forgotten first). */
export const MAX_PENDING_FEDERATIONS = 10_000;
/** Discovered metadata is fetched again after this long (a failed refresh keeps the old copy). */
const METADATA_MAX_AGE_MS = 60 * 60_000;
/** After a failed discovery, the provider is not asked again for this long. */
const DISCOVERY_RETRY_MS = 30_000;
const HTTP_TIMEOUT_S = 10;
const MAX_STATE_LENGTH = 256;

interface Pending {
  uid: string;
  name: string;
  nonce: string;
  verifier: string;
}

/** The result of a provider callback. */
export type FederationCallback =
  | ({ ok: true; uid: string; idp: string } & MappedAccount)
  | { ok: false; status: 400 | 502; message: string; reason: string; uid?: string; idp?: string };

/** What the federation needs. */
export interface FederationOptions {
  /** The gateway AS issuer (an origin); the redirect URI is `<issuer>/interaction/callback/federated`. */
  issuer: string;
  entries: readonly FederationEntry[];
  /** Resolves `clientSecret` references; required when an entry has one. */
  resolveSecret?: ResolveSecret;
  logger: { info(o: object, m?: string): void; warn(o: object, m?: string): void };
  now?: () => number;
}

/** A failure worth telling the user about, with the text to show (never a secret). */
export class FederationUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FederationUnavailableError';
  }
}

/** True for a URL the browser may be sent to (or a request may go to) for this entry. */
function endpointAllowed(entry: FederationEntry, raw: unknown): raw is string {
  if (typeof raw !== 'string') return false;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return false;
  }
  if (u.username !== '' || u.password !== '') return false;
  if (u.protocol === 'https:') return true;
  return u.protocol === 'http:' && entry.allowInsecureLoopback && isLoopbackHostname(u.hostname);
}

/** The CSP source (scheme + host) of an allowed endpoint URL, when it can be written safely. */
function cspSource(url: string): string | undefined {
  const u = new URL(url);
  return /^[a-z0-9.:[\]-]+$/i.test(u.host) ? `${u.protocol}//${u.host}` : undefined;
}

/** Client authentication with a secret: basic unless the provider supports only `client_secret_post`. */
function secretAuth(secret: string): ClientAuth {
  const basic = ClientSecretBasic(secret);
  const post = ClientSecretPost(secret);
  return (as, client, body, headers) => {
    const methods = as.token_endpoint_auth_methods_supported;
    const usePost = Array.isArray(methods) && !methods.includes('client_secret_basic') && methods.includes('client_secret_post');
    (usePost ? post : basic)(as, client, body, headers);
  };
}

/** One provider: its entry and its discovered (cached) client configuration. */
class Upstream {
  private cached?: { config: Configuration; at: number };
  private inflight?: Promise<Configuration>;
  private failedAt = -Infinity;

  constructor(
    readonly entry: FederationEntry,
    private readonly http: FederationFetch,
    private readonly resolveSecret: ResolveSecret | undefined,
    private readonly now: () => number,
    private readonly logger: FederationOptions['logger'],
  ) {}

  /** The authorization endpoint once discovered. */
  authorizationEndpoint(): string | undefined {
    const ep = this.cached?.config.serverMetadata().authorization_endpoint;
    return endpointAllowed(this.entry, ep) ? ep : undefined;
  }

  /** The discovered configuration; rejects FederationUnavailableError when the provider cannot be used. */
  async config(): Promise<Configuration> {
    const t = this.now();
    if (this.cached) {
      // A stale copy is used while a refresh runs in the background (and while the provider's
      // metadata endpoint is down): sign-ins never wait for a refresh.
      if (t - this.cached.at >= METADATA_MAX_AGE_MS && t - this.failedAt >= DISCOVERY_RETRY_MS) this.refresh().catch(() => undefined);
      return this.cached.config;
    }
    if (t - this.failedAt < DISCOVERY_RETRY_MS) throw new FederationUnavailableError('provider metadata unavailable');
    return this.refresh();
  }

  private refresh(): Promise<Configuration> {
    this.inflight ??= this.discover().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async discover(): Promise<Configuration> {
    const { entry } = this;
    try {
      let secret: string | undefined;
      if (entry.clientSecret) {
        if (!this.resolveSecret) throw new GatewayError('ERR_AUTH_UNAVAILABLE', `no secret resolver for ${describeRef(entry.clientSecret)}`);
        secret = await this.resolveSecret(entry.clientSecret);
      }
      const config = await discovery(new URL(entry.issuer), entry.clientId, secret !== undefined ? { client_secret: secret } : undefined, secret !== undefined ? secretAuth(secret) : None(), {
        [customFetch]: this.http.fetch,
        timeout: HTTP_TIMEOUT_S,
        execute: entry.allowInsecureLoopback ? [allowInsecureRequests] : [],
      });
      const meta = config.serverMetadata();
      if (!endpointAllowed(entry, meta.authorization_endpoint) || !endpointAllowed(entry, meta.token_endpoint)) {
        throw new GatewayError('ERR_AUTH_UNAVAILABLE', 'provider metadata lacks a usable authorization or token endpoint');
      }
      this.cached = { config, at: this.now() };
      this.logger.info({ event: 'as.federation_discovered', idp: entry.name }, 'authorization server: federation provider discovered');
      return config;
    } catch (e) {
      this.failedAt = this.now();
      this.logger.warn(
        { event: 'as.federation_discovery_failed', idp: entry.name, err: e instanceof Error ? `${e.name}: ${e.message}` : String(e) },
        'authorization server: federation provider discovery failed',
      );
      throw new FederationUnavailableError('provider metadata unavailable');
    }
  }
}

/** The federated sign-in of one authorization server. */
export class Federation {
  /** The redirect URI registered at every provider. */
  readonly redirectUri: string;
  private readonly upstreams = new Map<string, Upstream>();
  private readonly pending: TtlMap<Pending>;
  private readonly byUid: TtlMap<string>;
  private readonly fetches: FederationFetch[] = [];

  constructor(private readonly opts: FederationOptions) {
    this.redirectUri = `${opts.issuer}${FEDERATION_CALLBACK_PATH}`;
    const now = opts.now ?? Date.now;
    this.pending = new TtlMap<Pending>(MAX_PENDING_FEDERATIONS, FEDERATION_PENDING_TTL_MS, now);
    this.byUid = new TtlMap<string>(MAX_PENDING_FEDERATIONS, FEDERATION_PENDING_TTL_MS, now);
    const strict = opts.entries.some((e) => !e.allowInsecureLoopback) ? createFederationFetch({ allowLoopback: false }) : undefined;
    const loopback = opts.entries.some((e) => e.allowInsecureLoopback) ? createFederationFetch({ allowLoopback: true }) : undefined;
    for (const f of [strict, loopback]) if (f) this.fetches.push(f);
    for (const e of opts.entries) {
      const http = (e.allowInsecureLoopback ? loopback : strict) as FederationFetch;
      this.upstreams.set(e.name, new Upstream(e, http, opts.resolveSecret, now, opts.logger));
    }
  }

  /** The buttons of the login page, in config order. */
  buttons(): Array<{ name: string; displayName: string }> {
    return [...this.upstreams.values()].map((u) => ({ name: u.entry.name, displayName: u.entry.displayName }));
  }

  /** The display name of entry `name`, or undefined when there is no such entry. */
  displayName(name: string): string | undefined {
    return this.upstreams.get(name)?.entry.displayName;
  }

  /**
   * CSP `form-action` sources for the login page: our federated POST answers 303 to the
   * provider, and Chromium checks that redirect against `form-action` too. Each provider's
   * issuer origin is listed, plus its authorization endpoint's origin once discovered.
   */
  formActionSources(): string[] {
    const out = new Set<string>();
    for (const u of this.upstreams.values()) {
      for (const url of [u.entry.issuer, u.authorizationEndpoint()]) {
        const src = endpointAllowed(u.entry, url) ? cspSource(url) : undefined;
        if (src) out.add(src);
      }
    }
    return [...out];
  }

  /** Discovers every provider in the background, so the first sign-in does not wait (failures are logged). */
  warmUp(): void {
    for (const u of this.upstreams.values()) u.config().catch(() => undefined);
  }

  /**
   * Starts a sign-in at provider `name` for interaction `uid`: returns the provider's
   * authorization URL. At most one sign-in per interaction is pending; a new one replaces it.
   * Rejects FederationUnavailableError when the provider cannot be reached.
   */
  async begin(uid: string, name: string): Promise<string> {
    const up = this.upstreams.get(name);
    if (!up) throw new FederationUnavailableError('unknown provider');
    const config = await up.config();
    const state = randomState();
    const nonce = randomNonce();
    const verifier = randomPKCECodeVerifier();
    const challenge = await calculatePKCECodeChallenge(verifier);
    const previous = this.byUid.get(uid);
    if (previous !== undefined) this.pending.delete(previous);
    this.pending.set(state, { uid, name, nonce, verifier });
    this.byUid.set(uid, state);
    const url = buildAuthorizationUrl(config, {
      redirect_uri: this.redirectUri,
      response_type: 'code',
      scope: up.entry.scopes.join(' '),
      state,
      nonce,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    if (!endpointAllowed(up.entry, url.href)) throw new FederationUnavailableError('provider authorization endpoint refused');
    return url.href;
  }

  /**
   * Completes a sign-in from the provider's redirect to the callback (`search` is the query,
   * with its `?`). The state is consumed before anything else, so a callback works at most once.
   */
  async complete(search: string): Promise<FederationCallback> {
    const params = new URLSearchParams(search);
    const state = params.get('state');
    const p = state !== null && state.length <= MAX_STATE_LENGTH ? this.pending.get(state) : undefined;
    if (state === null || p === undefined) {
      return { ok: false, status: 400, reason: 'unknown_state', message: 'This sign-in response is not valid, has expired or was already used. Start again from the application.' };
    }
    this.pending.delete(state);
    if (this.byUid.get(p.uid) === state) this.byUid.delete(p.uid);
    const up = this.upstreams.get(p.name);
    if (!up) return { ok: false, status: 400, reason: 'unknown_provider', message: 'This sign-in response is not valid.', uid: p.uid };
    const { entry } = up;
    const fail = (status: 400 | 502, reason: string, message: string): FederationCallback => ({ ok: false, status, reason, message, uid: p.uid, idp: entry.name });

    let config: Configuration;
    try {
      config = await up.config();
    } catch {
      return fail(502, 'discovery_failed', `Sign-in with ${entry.displayName} is not available right now. Try again later, or sign in another way.`);
    }
    const current = new URL(this.redirectUri);
    current.search = params.toString();
    let claims: Record<string, unknown>;
    try {
      const tokens = await authorizationCodeGrant(config, current, { expectedState: state, expectedNonce: p.nonce, pkceCodeVerifier: p.verifier, idTokenExpected: true });
      claims = { ...(tokens.claims() ?? {}) };
      if (missingClaims(entry, claims).length > 0 && config.serverMetadata().userinfo_endpoint && typeof claims.sub === 'string') {
        // The ID token wins over userinfo; fetchUserInfo checks that userinfo is about the same subject.
        const info = await fetchUserInfo(config, tokens.access_token, claims.sub);
        claims = { ...info, ...claims };
      }
    } catch (e) {
      if (e instanceof AuthorizationResponseError) return fail(400, `provider_error:${e.error}`, `Sign-in with ${entry.displayName} was cancelled or refused by the provider.`);
      if (e instanceof ResponseBodyError) return fail(400, `token_error:${e.error}`, `Sign-in with ${entry.displayName} could not be completed. Try again.`);
      const code = (e as { code?: unknown }).code;
      if (typeof code === 'string' && code.startsWith('OAUTH_')) {
        return fail(400, `response_refused:${code}`, `The response from ${entry.displayName} could not be verified. Try again.`);
      }
      return fail(502, `provider_unreachable:${e instanceof Error ? e.name : 'error'}`, `Sign-in with ${entry.displayName} is not available right now. Try again later, or sign in another way.`);
    }
    try {
      const mapped = mapFederatedClaims(entry, claims);
      return { ok: true, uid: p.uid, idp: entry.name, ...mapped };
    } catch (e) {
      return fail(400, `claims_refused: ${e instanceof Error ? e.message : String(e)}`, `Your account at ${entry.displayName} cannot be used to sign in here.`);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.fetches.map((f) => f.close()));
  }
}
