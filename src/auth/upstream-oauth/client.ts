/**
 * The gateway as an OAuth authorization-code client of one upstream's authorization server, per
 * principal (the gateway's own identity is the principal '@gateway'). The protocol is the official
 * SDK's `auth()` (PRM discovery, RFC 8414/OIDC metadata, pre-registration, CIMD or DCR, PKCE S256,
 * RFC 8707 resource, scope selection, refresh); this class adds what a multi-user gateway needs
 * around it: server-side state bound to the principal and the recorded issuer, the RFC 9207 `iss`
 * check before any code is redeemed, sealed persistence, single-flight refresh, bounded step-up,
 * and one egress guard for every request.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { auth, computeScopeUnion, type OAuthDiscoveryState } from '@modelcontextprotocol/client';
import { GatewayError } from '../../pipeline/errors.js';
import type { EncryptedSecrets } from '../secrets/secret-store.js';
import { decideChallenge, parseChallenge, type ChallengeDecision } from './challenge.js';
import { authorizationUrlProblem, createOAuthEgress, EgressDeniedError, type OAuthEgress, type OAuthFetch, type OAuthLogger } from './egress.js';
import { defaultFlows, type FlowRegistry, type PendingFlow } from './flows.js';
import { AuthorizationRequired, createProvider, type BeginCapture, type ProviderContext } from './provider.js';
import { checkPrincipalKey, principalHash, UpstreamOAuthStore } from './store.js';
import { GATEWAY_PRINCIPAL, makeTicketUrl, type TicketBook } from './tickets.js';

export { MAX_STEP_UPS, type ChallengeDecision } from './challenge.js';

/** Tokens expiring within this margin are refreshed first. */
const EXPIRY_MARGIN_MS = 60_000;
// OAuth error codes as servers use them; anything else is not echoed.
const ERROR_CODE = /^[A-Za-z0-9_.-]{1,64}$/;

export interface UpstreamOAuthOptions {
  /** Upstream name (record names, logs, errors). */
  upstream: string;
  /** The upstream's MCP endpoint: the protected resource. */
  serverUrl: string;
  /** Where the authorization server sends the browser back (gateway callback or CLI loopback). */
  redirectUri: string;
  secrets: EncryptedSecrets;
  /** Extra scopes to request (config `scope`). */
  scope?: string;
  /** Pre-registered client. */
  clientId?: string;
  clientSecret?: string;
  /** CIMD URL (https, with a path). */
  clientMetadataUrl?: string;
  clientName: string;
  /** Reach private and loopback addresses (tests, development). Default false. */
  allowPrivateNetwork?: boolean;
  /** Every OAuth request goes through this; default: the egress guard of egress.ts. */
  fetchFn?: OAuthFetch;
  now?: () => number;
  logger?: OAuthLogger;
  /** Pending authorization requests; default: the process-wide registry the callback route reads. */
  flows?: FlowRegistry;
  /** Gateway public base URL: errors for a principal then carry a ticket `authorizeUrl`. */
  authorizeBase?: string;
  tickets?: TicketBook;
}

const sha256 = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** One upstream's OAuth client. */
export class UpstreamOAuth {
  readonly upstream: string;
  readonly serverUrl: string;
  private readonly o: UpstreamOAuthOptions;
  private readonly store: UpstreamOAuthStore;
  private readonly flows: FlowRegistry;
  private readonly now: () => number;
  private readonly egress: OAuthEgress | undefined;
  private readonly fetchFn: OAuthFetch;
  private readonly refreshing = new Map<string, Promise<Record<string, string>>>();

  constructor(o: UpstreamOAuthOptions) {
    this.o = o;
    this.upstream = o.upstream;
    this.serverUrl = o.serverUrl;
    this.store = new UpstreamOAuthStore(o.secrets, o.upstream);
    this.flows = o.flows ?? defaultFlows;
    this.now = o.now ?? Date.now;
    this.egress = o.fetchFn ? undefined : createOAuthEgress({ upstream: o.upstream, allowPrivateNetwork: o.allowPrivateNetwork ?? false, ...(o.logger ? { logger: o.logger } : {}) });
    this.fetchFn = o.fetchFn ?? (this.egress as OAuthEgress).fetch;
  }

  private ctx(principalKey: string): ProviderContext {
    return {
      store: this.store,
      principalKey,
      redirectUri: this.o.redirectUri,
      clientName: this.o.clientName,
      ...(this.o.clientId ? { preRegistered: { clientId: this.o.clientId, ...(this.o.clientSecret ? { clientSecret: this.o.clientSecret } : {}) } } : {}),
      ...(this.o.clientMetadataUrl ? { clientMetadataUrl: this.o.clientMetadataUrl } : {}),
      now: this.now,
    };
  }

  private log(level: 'info' | 'warn', principalKey: string, o: object, msg: string): void {
    this.o.logger?.[level]({ upstream: this.upstream, principal: principalHash(principalKey).slice(0, 12), ...o }, msg);
  }

  /** ERR_UPSTREAM_AUTH_REQUIRED for `principalKey`, with where to go next. */
  authRequired(principalKey: string, why = 'no usable token'): GatewayError {
    const data: Record<string, unknown> = { upstream: this.upstream };
    if (principalKey === GATEWAY_PRINCIPAL) data.action = `portcullis upstreams authorize ${this.upstream}`;
    else if (this.o.authorizeBase) data.authorizeUrl = makeTicketUrl(this.o.authorizeBase, this.upstream, principalKey, this.o.tickets);
    const hint = principalKey === GATEWAY_PRINCIPAL ? `: run \`portcullis upstreams authorize ${this.upstream}\`` : '';
    return new GatewayError('ERR_UPSTREAM_AUTH_REQUIRED', `upstream ${this.upstream} needs authorization (${why})${hint}`, { data });
  }

  /**
   * `{authorization: 'Bearer …'}` from the stored tokens, refreshed first when they expire within
   * a minute (one refresh per principal at a time). Throws ERR_UPSTREAM_AUTH_REQUIRED when there is
   * no usable token, ERR_UPSTREAM_CREDENTIALS when a refresh failed for a reason a retry may fix.
   */
  async headers(principalKey: string): Promise<Record<string, string>> {
    checkPrincipalKey(principalKey);
    const rec = await this.store.getTokens(principalKey);
    if (!rec) throw this.authRequired(principalKey);
    const exp = rec.tokens.expires_in !== undefined ? rec.savedAt + rec.tokens.expires_in * 1000 : Infinity;
    if (this.now() < exp - EXPIRY_MARGIN_MS) return { authorization: `Bearer ${rec.tokens.access_token}` };
    if (!rec.tokens.refresh_token) throw this.authRequired(principalKey, 'the token expired and there is no refresh token');
    const running = this.refreshing.get(principalKey);
    if (running) return running;
    const p = this.refresh(principalKey).finally(() => this.refreshing.delete(principalKey));
    this.refreshing.set(principalKey, p);
    return p;
  }

  private async refresh(principalKey: string): Promise<Record<string, string>> {
    const status = { invalidated: false, reachedRedirect: false };
    try {
      const r = await auth(createProvider(this.ctx(principalKey), { kind: 'refresh', status }), { serverUrl: this.serverUrl, fetchFn: this.fetchFn });
      if (r !== 'AUTHORIZED') throw new AuthorizationRequired();
    } catch (e) {
      // Refused for good (token revoked, client gone): the principal must authorize again.
      if (status.invalidated || (e instanceof AuthorizationRequired && !status.reachedRedirect)) {
        this.log('info', principalKey, { event: 'upstream_oauth.refresh_refused' }, 'upstream OAuth refresh refused; authorization required');
        throw this.authRequired(principalKey, 'the refresh token was refused');
      }
      this.log('warn', principalKey, { event: 'upstream_oauth.refresh_failed', err: errorName(e) }, 'upstream OAuth refresh failed');
      throw new GatewayError('ERR_UPSTREAM_CREDENTIALS', `upstream ${this.upstream}: token refresh failed`, { data: { upstream: this.upstream }, cause: e });
    }
    const rec = await this.store.getTokens(principalKey);
    if (!rec) throw this.authRequired(principalKey);
    this.log('info', principalKey, { event: 'upstream_oauth.refreshed' }, 'upstream OAuth token refreshed');
    return { authorization: `Bearer ${rec.tokens.access_token}` };
  }

  /**
   * Records what the upstream said when it refused a request: the `WWW-Authenticate` of a 401, or
   * of a 403 `insufficient_scope` (`status` may be omitted; the challenge then decides). A 401
   * drops the tokens; a 403 keeps them (they still work for other operations) and accumulates the
   * scope for the next `begin` (step-up). A step-up for scopes the current token already has, or
   * past MAX_STEP_UPS in ten minutes, is refused (`reauthorize: false`).
   */
  async onUnauthorized(principalKey: string, wwwAuthenticate: string | null | undefined, status?: number): Promise<ChallengeDecision> {
    checkPrincipalKey(principalKey);
    const challenge = parseChallenge(wwwAuthenticate);
    const prev = await this.store.getChallenge(principalKey);
    const tokens = await this.store.getTokens(principalKey);
    const granted = tokens ? (tokens.tokens.scope ?? tokens.requestedScope) : undefined;
    const out = decideChallenge({ challenge, prev, now: this.now(), ...(status !== undefined ? { status } : {}), ...(granted !== undefined ? { granted } : {}) });
    await this.store.setChallenge(principalKey, out.record);
    if (out.stepUp) {
      if (out.decision.reauthorize) this.log('info', principalKey, { event: 'upstream_oauth.step_up', scope: out.record.scope }, 'upstream OAuth step-up requested');
      else this.log('warn', principalKey, { event: 'upstream_oauth.step_up_refused', futile: out.futile, stepUps: out.record.stepUps }, 'upstream OAuth step-up not attempted');
      return out.decision;
    }
    await this.store.delete(principalKey, 'tokens');
    // A changed metadata location means the stored discovery may be stale.
    const disc = await this.store.getDiscovery(principalKey);
    if (challenge.resourceMetadataUrl && disc?.resourceMetadataUrl !== challenge.resourceMetadataUrl) await this.store.delete(principalKey, 'discovery');
    return out.decision;
  }

  /**
   * Learns the upstream's challenge for an unauthenticated request (an MCP `initialize` POST):
   * what the operator CLI does before `begin`, since it has not seen a 401 yet. Returns the status.
   */
  async probe(principalKey: string): Promise<number> {
    const res = await this.fetchFn(this.serverUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'portcullis-probe', version: '0' } } }),
    });
    await res.body?.cancel().catch(() => undefined);
    if (res.status === 401 || res.status === 403) await this.onUnauthorized(principalKey, res.headers.get('www-authenticate'), res.status);
    return res.status;
  }

  /**
   * Starts an authorization for `principalKey` and returns the authorization URL to send the user
   * agent to. `binding` (a browser cookie value) must then come back with the callback.
   */
  async begin(principalKey: string, opts: { binding?: string } = {}): Promise<string> {
    checkPrincipalKey(principalKey);
    const challenge = await this.store.getChallenge(principalKey);
    const scope = computeScopeUnion(this.o.scope, challenge?.scope);
    const capture: BeginCapture = {};
    const provider = createProvider(this.ctx(principalKey), { kind: 'begin', capture });
    let result: string;
    try {
      result = await auth(provider, {
        serverUrl: this.serverUrl,
        fetchFn: this.fetchFn,
        forceReauthorization: true,
        ...(scope ? { scope } : {}),
        ...(challenge?.resourceMetadataUrl ? { resourceMetadataUrl: new URL(challenge.resourceMetadataUrl) } : {}),
      });
    } catch (e) {
      // A refused destination was logged once, as a security event, by the egress guard.
      this.log(isEgressDenied(e) ? 'info' : 'warn', principalKey, { event: 'upstream_oauth.begin_failed', err: errorName(e), reason: errorMessage(e) }, 'upstream OAuth authorization could not start');
      if (e instanceof GatewayError) throw e;
      throw new GatewayError('ERR_UPSTREAM_CREDENTIALS', `upstream ${this.upstream}: authorization could not start (${errorMessage(e)})`, { data: { upstream: this.upstream }, cause: e });
    }
    const { url, state, verifier, discovery } = capture;
    if (result !== 'REDIRECT' || !url || !state || !verifier || !discovery) throw new GatewayError('ERR_INTERNAL', `upstream ${this.upstream}: the authorization flow did not produce a redirect`);
    const problem = authorizationUrlProblem(url, this.o.allowPrivateNetwork ?? false);
    if (problem) {
      this.log('warn', principalKey, { event: 'upstream_oauth.authorization_url_refused', reason: problem }, 'upstream OAuth authorization URL refused');
      throw new GatewayError('ERR_UPSTREAM_CREDENTIALS', `upstream ${this.upstream}: the authorization endpoint is not acceptable (${problem})`, { data: { upstream: this.upstream } });
    }
    if (url.searchParams.get('state') !== state) throw new GatewayError('ERR_INTERNAL', 'authorization URL lost its state');
    const flow: PendingFlow = {
      upstream: this.upstream,
      principalKey,
      issuer: issuerOf(discovery),
      issParameterSupported: discovery.authorizationServerMetadata?.authorization_response_iss_parameter_supported === true,
      codeVerifier: verifier,
      discovery,
      ...(url.searchParams.get('scope') ? { scope: url.searchParams.get('scope') as string } : {}),
      ...(opts.binding ? { bindingHash: sha256(opts.binding) } : {}),
    };
    this.flows.put(state, flow);
    this.log('info', principalKey, { event: 'upstream_oauth.begin', issuer: flow.issuer, scope: flow.scope }, 'upstream OAuth authorization started');
    return url.href;
  }

  /**
   * Finishes an authorization from the callback's query. Checks, in order and before any code is
   * redeemed: the state (known, unexpired, unused, this upstream), the browser binding, the
   * issuer (`iss` must equal the recorded issuer exactly, and must be present when the server
   * advertised it), then an `error` response. Only then is the code exchanged (by the SDK, which
   * checks `iss` again) and the tokens stored. Failures are ERR_BAD_INPUT (callback) or
   * ERR_UPSTREAM_CREDENTIALS (token exchange).
   */
  async complete(params: URLSearchParams, opts: { binding?: string } = {}): Promise<{ principalKey: string }> {
    const state = params.get('state');
    if (!state) throw new GatewayError('ERR_BAD_INPUT', 'authorization callback without state');
    const flow = this.flows.take(state);
    if (!flow) throw new GatewayError('ERR_BAD_INPUT', 'unknown, expired or already used authorization state');
    const pk = flow.principalKey;
    const refuse = (event: string, msg: string, data: Record<string, unknown> = {}): never => {
      this.log('warn', pk, { event, ...data }, msg);
      throw new GatewayError('ERR_BAD_INPUT', msg, { data: { upstream: this.upstream, ...data } });
    };
    if (flow.upstream !== this.upstream) refuse('upstream_oauth.callback_wrong_upstream', 'authorization state belongs to another upstream');
    if (flow.bindingHash) {
      const given = opts.binding ? sha256(opts.binding) : Buffer.alloc(32);
      if (!timingSafeEqual(given, flow.bindingHash)) refuse('upstream_oauth.callback_unbound', 'authorization callback from another browser');
    }
    const iss = params.get('iss') ?? undefined;
    if (iss !== undefined && iss !== flow.issuer) refuse('upstream_oauth.iss_mismatch', 'authorization response from an unexpected issuer (RFC 9207)');
    if (iss === undefined && flow.issParameterSupported) refuse('upstream_oauth.iss_missing', 'authorization response without the iss parameter its server advertises (RFC 9207)');
    const error = params.get('error');
    if (error !== null) {
      const code = ERROR_CODE.test(error) ? error : 'invalid_error';
      refuse('upstream_oauth.authorization_denied', `authorization was not granted (${code})`, { error: code });
    }
    const code = params.get('code');
    if (!code || code.length > 4096) refuse('upstream_oauth.callback_no_code', 'authorization callback without a usable code');

    try {
      const r = await auth(createProvider(this.ctx(pk), { kind: 'complete', flow }), {
        serverUrl: this.serverUrl,
        authorizationCode: code as string,
        ...(iss !== undefined ? { iss } : {}),
        fetchFn: this.fetchFn,
      });
      if (r !== 'AUTHORIZED') throw new Error('the token exchange did not authorize');
    } catch (e) {
      // Only the error's name and OAuth code: a token endpoint's answer is not for the log.
      this.log('warn', pk, { event: 'upstream_oauth.exchange_failed', err: errorName(e), code: oauthCode(e) }, 'upstream OAuth code exchange failed');
      throw new GatewayError('ERR_UPSTREAM_CREDENTIALS', `upstream ${this.upstream}: the authorization code could not be exchanged`, { data: { upstream: this.upstream }, cause: e });
    }
    await this.store.setDiscovery(pk, flow.discovery);
    await this.store.delete(pk, 'verifier');
    this.log('info', pk, { event: 'upstream_oauth.authorized', issuer: flow.issuer }, 'upstream OAuth authorization complete');
    return { principalKey: pk };
  }

  /** Forgets everything stored for the principal at this upstream. */
  async forget(principalKey: string): Promise<void> {
    await this.store.deleteAll(principalKey);
  }

  /** Closes the egress connection pools. */
  async close(): Promise<void> {
    await this.egress?.close();
  }
}

/** The issuer to expect in `iss`: the metadata's own, exactly as published. */
function issuerOf(d: OAuthDiscoveryState): string {
  return d.authorizationServerMetadata?.issuer ?? d.authorizationServerUrl;
}

/** True when `e` (or its cause, a few levels down) is the egress guard's refusal. */
function isEgressDenied(e: unknown): boolean {
  let cur: unknown = e;
  for (let depth = 0; depth < 4 && cur instanceof Error; depth++, cur = cur.cause) if (cur instanceof EgressDeniedError) return true;
  return false;
}

function oauthCode(e: unknown): string | undefined {
  const c = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
  return typeof c === 'string' && ERROR_CODE.test(c) ? c : undefined;
}

function errorName(e: unknown): string {
  return e instanceof Error ? e.name : typeof e;
}

/** A short, single-line reason for logs and errors (never a response body in full). */
function errorMessage(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  // eslint-disable-next-line no-control-regex
  return m.replace(/[\x00-\x1f\x7f]+/g, ' ').slice(0, 200);
}
