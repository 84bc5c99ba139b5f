/**
 * The oidc-provider configuration of the built-in authorization server: authorization code with
 * PKCE S256 only, public clients only, RFC 8707 resources mapped to JWT access tokens whose `aud`
 * is the resource, rotating refresh tokens (reuse revokes the grant), short single-use codes,
 * and no feature the gateway does not use (dev interactions, userinfo, logout page, PAR, DPoP).
 */
import type { JWK } from 'jose';
import type { Configuration, KoaContextWithOIDC, ClientMetadata, Grant } from 'oidc-provider';
import { errors, interactionPolicy } from 'oidc-provider';
import type { UserStore } from '../../storage/ports.js';
import type { StaticClient } from './config.js';
import { isFederatedAccountId, type FederatedAccounts } from './federation-accounts.js';
import type { GuardedFetch } from './egress.js';
import { PAGE_HEADERS, errorPage } from './pages.js';
import type { TtlMap } from './ttl-map.js';
import { SIGNING_ALG } from './keys.js';

/** Fixed lifetimes (seconds) that are not configuration. */
export const FIXED_TTL = {
  /** Authorization codes are single use and live one minute. */
  authorizationCode: 60,
  /** A login/consent page must be completed within ten minutes. */
  interaction: 600,
  /** The sign-in session cookie: a user signed in once skips the password for this long. */
  session: 8 * 3600,
} as const;

/** Everything the configuration is built from. */
export interface ProviderConfigInput {
  resources: readonly string[];
  scopes: readonly string[];
  users: UserStore;
  accessTtlSec: number;
  refreshTtlSec: number;
  registration: boolean;
  staticClients: readonly StaticClient[];
  jwks: { keys: JWK[] };
  cookieKeys: string[];
  /** true: https issuer, cookies get the `__Host-`/`__Secure-` prefixes. */
  secureCookies: boolean;
  /** Remembered consent: `${accountId}\0${clientId}` → grant id. */
  consents: TtlMap<string>;
  /** Accept https `client_id` URLs (Client ID Metadata Documents). */
  cimd: boolean;
  /** Every outbound fetch oidc-provider makes goes through this guard. */
  fetch: GuardedFetch['fetch'];
  /** Accounts signed in through a federation provider (`<name>:<sub>`); absent: none. */
  federatedAccounts?: FederatedAccounts;
}

/** The consent key of one user and one client. */
export function consentKey(accountId: string, clientId: string): string {
  return `${accountId}\u0000${clientId}`;
}

/**
 * Cookie names. Browsers accept `__Host-` only with Secure, Path=/ and no Domain, so only the
 * session cookie (Path=/) gets it; the interaction and resume cookies are scoped to their own
 * paths and get `__Secure-`. On an http loopback issuer (development) browsers drop any prefixed
 * cookie without Secure, so the names stay plain there.
 */
export function cookieNames(secure: boolean): { session: string; interaction: string; resume: string } {
  return secure
    ? { session: '__Host-pcl_as_session', interaction: '__Secure-pcl_as_interaction', resume: '__Secure-pcl_as_resume' }
    : { session: 'pcl_as_session', interaction: 'pcl_as_interaction', resume: 'pcl_as_resume' };
}

/**
 * The interaction policy: oidc-provider's base policy minus `native_client_prompt`, which asks
 * native clients for consent on every authorization. Consent is remembered per (user, client_id)
 * instead; each DCR registration is its own client_id, so a new client still asks.
 */
function policy(): interactionPolicy.Prompt[] {
  const base = interactionPolicy.base();
  base.get('consent')?.checks.remove('native_client_prompt');
  return base;
}

function staticClient(c: StaticClient): ClientMetadata {
  const loopback = c.redirectUris.every((u) => /^http:\/\/(127\.0\.0\.1|\[::1\]|localhost)[:/]/.test(u));
  return {
    client_id: c.clientId,
    client_name: c.name,
    redirect_uris: [...c.redirectUris],
    application_type: loopback ? 'native' : 'web',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
  };
}

/** Builds the configuration; `jwks` and `cookieKeys` are the only parts that change on key rotation. */
export function buildProviderConfig(input: ProviderConfigInput, adapter: Configuration['adapter']): Configuration {
  const resources = new Set(input.resources);
  const firstResource = input.resources[0];
  const resourceScope = input.scopes.join(' ');
  const { users, consents, federatedAccounts } = input;
  const cookieOpts = { httpOnly: true, sameSite: 'lax' as const, signed: true };

  return {
    adapter,
    jwks: input.jwks as Configuration['jwks'],
    cookies: { keys: input.cookieKeys, names: cookieNames(input.secureCookies), long: cookieOpts, short: cookieOpts },
    scopes: ['openid', 'offline_access', ...input.scopes],
    clients: input.staticClients.map(staticClient),
    clientAuthMethods: ['none'],
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      id_token_signed_response_alg: SIGNING_ALG,
    },
    responseTypes: ['code'],
    allowOmittingSingleRegisteredRedirectUri: false,
    pkce: { required: () => true },
    rotateRefreshToken: true,
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}`, policy: policy() },
    async findAccount(_ctx, id) {
      // Local usernames cannot contain ':', so `<name>:<sub>` never reaches the UserStore.
      if (isFederatedAccountId(id)) {
        if (!federatedAccounts?.get(id)) return undefined;
        return { accountId: id, claims: async () => ({ sub: id }) };
      }
      const u = await users.get(id);
      if (!u || u.disabled) return undefined;
      return { accountId: u.username, claims: async () => ({ sub: u.username }) };
    },
    // The gateway's verifier maps these claims onto the principal.
    async extraTokenClaims(_ctx, token) {
      const accountId = 'accountId' in token ? token.accountId : undefined;
      if (typeof accountId !== 'string') return undefined;
      if (isFederatedAccountId(accountId)) {
        // Mapped from the provider's ID token at the last sign-in (refreshed at every sign-in).
        const f = federatedAccounts?.get(accountId);
        if (!f) throw new errors.InvalidGrant('account is not available');
        return { tenant: f.tenant, roles: [...f.roles] };
      }
      const u = await users.get(accountId);
      if (!u || u.disabled) throw new errors.InvalidGrant('account is not available');
      return { tenant: u.tenant, roles: [...u.roles] };
    },
    async loadExistingGrant(ctx: KoaContextWithOIDC): Promise<Grant | undefined> {
      const client = ctx.oidc.client;
      const accountId = ctx.oidc.session?.accountId;
      if (!client || !accountId) return undefined;
      const grantId =
        ctx.oidc.result?.consent?.grantId ?? ctx.oidc.session?.grantIdFor(client.clientId) ?? consents.get(consentKey(accountId, client.clientId));
      if (!grantId) return undefined;
      const grant = await ctx.oidc.provider.Grant.find(grantId);
      if (!grant || grant.accountId !== accountId || grant.clientId !== client.clientId) return undefined;
      return grant;
    },
    ttl: {
      AccessToken: input.accessTtlSec,
      IdToken: input.accessTtlSec,
      AuthorizationCode: FIXED_TTL.authorizationCode,
      Interaction: FIXED_TTL.interaction,
      Session: FIXED_TTL.session,
      Grant: input.refreshTtlSec,
      // Absolute: a rotated refresh token inherits what is left of its family's lifetime.
      RefreshToken(_ctx, token) {
        const now = Math.floor(Date.now() / 1000);
        const start = token.iiat ?? token.iat ?? now;
        return Math.max(1, input.refreshTtlSec - (now - start));
      },
    },
    features: {
      devInteractions: { enabled: false },
      registration: { enabled: input.registration, initialAccessToken: false },
      // A client revokes only its own tokens; for someone else's, RFC 7009 still answers 200.
      revocation: { enabled: true, allowedPolicy: (_ctx, client, token) => token.clientId === client.clientId },
      introspection: { enabled: false },
      userinfo: { enabled: false },
      rpInitiatedLogout: { enabled: false },
      pushedAuthorizationRequests: { enabled: false },
      dPoP: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: (_ctx, _client, oneOf) => oneOf ?? firstResource ?? '',
        useGrantedResource: () => true,
        getResourceServerInfo(_ctx, indicator) {
          if (!resources.has(indicator)) throw new errors.InvalidTarget();
          return {
            scope: resourceScope,
            audience: indicator,
            accessTokenTTL: input.accessTtlSec,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: SIGNING_ALG } },
          };
        },
      },
      clientIdMetadataDocument: input.cimd
        ? { enabled: true, ack: 'draft-02', allowFetch: () => true, allowClient: () => true, cacheDuration: { min: 60, max: 3600 } }
        : { enabled: false },
    },
    fetch: input.fetch,
    fetchResponseBodyLimits: { 'client_id metadata document': 5 * 1024, jwks_uri: 64 * 1024, sector_identifier_uri: 64 * 1024 },
    async renderError(ctx, out) {
      ctx.type = 'html';
      for (const [k, v] of Object.entries(PAGE_HEADERS)) ctx.set(k, v);
      const text = [out.error, out.error_description].filter((x): x is string => typeof x === 'string').join(': ');
      ctx.body = errorPage('Sign-in failed', text || 'The request could not be completed.');
    },
  };
}
