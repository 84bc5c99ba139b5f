/**
 * The SDK's `OAuthClientProvider` for one principal and one step of the flow. The SDK's `auth()`
 * does the protocol (discovery, registration, PKCE, RFC 8707, token requests, refresh); the
 * provider decides what it sees and keeps:
 *
 * - begin: fresh discovery every time; nothing but the client registration is persisted; the
 *   state, verifier, discovery and authorization URL are captured for the flow registry; PKCE
 *   S256 support is required before anything is registered.
 * - complete: the discovery and verifier recorded with the state (the callback leg never
 *   re-discovers); the tokens are persisted.
 * - refresh: stored discovery and tokens; it never starts an interactive authorization (that
 *   surfaces as AuthorizationRequired), and after any credential invalidation it stops instead of
 *   letting the SDK retry (which would register a new client).
 */
import { randomBytes } from 'node:crypto';
import type {
  OAuthClientMetadata,
  OAuthClientProvider,
  OAuthDiscoveryState,
  StoredOAuthClientInformation,
  StoredOAuthTokens,
} from '@modelcontextprotocol/client';
import { GatewayError } from '../../pipeline/errors.js';
import type { PendingFlow } from './flows.js';
import type { UpstreamOAuthStore } from './store.js';

/** What every provider of one upstream shares. */
export interface ProviderContext {
  store: UpstreamOAuthStore;
  principalKey: string;
  redirectUri: string;
  clientName: string;
  /** A client registered out of band (config), never persisted. */
  preRegistered?: { clientId: string; clientSecret?: string };
  /** CIMD URL, used when the authorization server supports it and nothing is pre-registered. */
  clientMetadataUrl?: string;
  now(): number;
}

/** Filled in while `begin` runs. */
export interface BeginCapture {
  state?: string;
  verifier?: string;
  discovery?: OAuthDiscoveryState;
  url?: URL;
}

export type ProviderMode =
  | { kind: 'begin'; capture: BeginCapture }
  | { kind: 'complete'; flow: PendingFlow }
  | { kind: 'refresh'; status: { invalidated: boolean; reachedRedirect: boolean } };

/** The SDK wanted an interactive authorization where none may start (refresh). */
export class AuthorizationRequired extends Error {
  constructor() {
    super('interactive authorization required');
    this.name = 'AuthorizationRequired';
  }
}

/**
 * Refuses, before anything is registered, an authorization server that cannot run this flow:
 * no metadata or no PKCE S256 (MCP authorization: clients MUST refuse), or no authorization_code
 * grant (an omitted `grant_types_supported` means it is supported, RFC 8414).
 */
function requireCodeFlow(upstream: string, state: OAuthDiscoveryState): void {
  const m = state.authorizationServerMetadata;
  const refuse = (why: string): never => {
    throw new GatewayError('ERR_UPSTREAM_CREDENTIALS', `upstream ${upstream}: ${why}`);
  };
  if (!m) refuse('no authorization server metadata found, so PKCE support cannot be verified');
  else if (!m.code_challenge_methods_supported?.includes('S256')) refuse('the authorization server does not advertise PKCE S256');
  else if (m.grant_types_supported && !m.grant_types_supported.includes('authorization_code')) refuse('the authorization server does not offer the authorization_code grant');
}

/** Builds the provider for one step. */
export function createProvider(ctx: ProviderContext, mode: ProviderMode): OAuthClientProvider {
  const { store, principalKey: pk } = ctx;
  const pre = ctx.preRegistered;
  // Set when the SDK invalidated credentials after an OAuth error; it then retries the whole flow
  // once, which on the callback leg would redeem the same code again.
  let invalidated = false;

  const metadata: OAuthClientMetadata = {
    client_name: ctx.clientName,
    redirect_uris: [ctx.redirectUri],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    // A public client: PKCE protects the code, and no secret needs keeping per principal.
    token_endpoint_auth_method: 'none',
  };

  const provider: OAuthClientProvider = {
    get redirectUrl() {
      return ctx.redirectUri;
    },
    ...(pre || !ctx.clientMetadataUrl ? {} : { clientMetadataUrl: ctx.clientMetadataUrl }),
    get clientMetadata() {
      return metadata;
    },

    state() {
      if (mode.kind === 'refresh') {
        mode.status.reachedRedirect = true;
        throw new AuthorizationRequired();
      }
      if (mode.kind === 'complete') throw new GatewayError('ERR_INTERNAL', 'unexpected authorization request on the callback leg');
      const s = randomBytes(32).toString('base64url');
      mode.capture.state = s;
      return s;
    },

    async clientInformation(info) {
      // Pre-registered credentials are used with the authorization server the upstream names.
      if (pre) return { client_id: pre.clientId, ...(pre.clientSecret ? { client_secret: pre.clientSecret } : {}), ...(info?.issuer ? { issuer: info.issuer } : {}) };
      const c = await store.getClient(pk);
      // A refresh must not register a client: without one the principal authorizes again.
      if (!c && mode.kind === 'refresh') throw new AuthorizationRequired();
      // A new authorization cannot use a registration for another redirect URI (a CLI run on
      // another port); refreshing with it is fine (the gateway refreshes what the CLI obtained).
      if (mode.kind === 'begin' && c && 'redirect_uris' in c && Array.isArray(c.redirect_uris) && !c.redirect_uris.includes(ctx.redirectUri)) return undefined;
      return c;
    },
    async saveClientInformation(info: StoredOAuthClientInformation) {
      if (pre) return;
      await store.setClient(pk, info);
    },

    async tokens() {
      // The begin leg always asks anew; the SDK must not see (or re-stamp) stored tokens there.
      if (mode.kind === 'begin') return undefined;
      return (await store.getTokens(pk))?.tokens;
    },
    async saveTokens(tokens: StoredOAuthTokens) {
      if (mode.kind === 'begin') return;
      const prev = mode.kind === 'refresh' ? await store.getTokens(pk) : undefined;
      const requestedScope = mode.kind === 'complete' ? mode.flow.scope : prev?.requestedScope;
      await store.setTokens(pk, { tokens, savedAt: ctx.now(), ...(requestedScope !== undefined ? { requestedScope } : {}) });
    },

    redirectToAuthorization(url: URL) {
      if (mode.kind !== 'begin') throw new AuthorizationRequired();
      mode.capture.url = url;
    },

    async saveCodeVerifier(verifier: string) {
      if (mode.kind !== 'begin') return;
      mode.capture.verifier = verifier;
      await store.setVerifier(pk, verifier);
    },
    async codeVerifier() {
      if (mode.kind === 'complete') return mode.flow.codeVerifier;
      const v = await store.getVerifier(pk);
      if (!v) throw new GatewayError('ERR_UPSTREAM_CREDENTIALS', `upstream ${store.upstream}: no PKCE verifier`);
      return v;
    },

    async discoveryState() {
      if (mode.kind === 'begin') return undefined;
      if (mode.kind === 'complete') {
        if (invalidated) throw new GatewayError('ERR_UPSTREAM_CREDENTIALS', `upstream ${store.upstream}: the authorization server refused the code exchange`);
        return mode.flow.discovery;
      }
      // The SDK retries once after invalidating credentials; a refresh stops there instead.
      if (mode.status.invalidated) throw new AuthorizationRequired();
      return store.getDiscovery(pk);
    },
    async saveDiscoveryState(state: OAuthDiscoveryState) {
      if (mode.kind === 'begin') {
        requireCodeFlow(store.upstream, state);
        mode.capture.discovery = state;
        return;
      }
      // The callback leg's discovery is the one recorded with the state; it is persisted after the
      // code is redeemed (client.ts), not when the SDK echoes it.
      if (mode.kind === 'refresh') await store.setDiscovery(pk, state);
    },

    async invalidateCredentials(scope) {
      invalidated = true;
      if (mode.kind === 'refresh') mode.status.invalidated = true;
      if ((scope === 'all' || scope === 'client') && !pre) await store.delete(pk, 'client');
      // A failed code exchange says nothing about the tokens of an earlier grant: keep them.
      if (mode.kind === 'complete') return;
      if (scope === 'all' || scope === 'tokens') await store.delete(pk, 'tokens');
      if (scope === 'all' || scope === 'verifier') await store.delete(pk, 'verifier');
      if (scope === 'all' || scope === 'discovery') await store.delete(pk, 'discovery');
    },
  };
  return provider;
}
