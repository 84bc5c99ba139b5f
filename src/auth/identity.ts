/**
 * Composition of the identity parts for one gateway process: the secret layer, the token
 * verifier for trusted issuers (the built-in authorization server is one of them), API keys, and
 * the built-in authorization server itself. Built once the listener is bound, because the
 * canonical resource URIs and the built-in issuer contain the bound port.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SnapshotHolder } from '../config/holder.js';
import { createPrivateFile } from '../storage/private-file.js';
import type { Snapshot } from '../config/compile.js';
import type { Logger } from '../observability/logger.js';
import type { Principal } from '../pipeline/context.js';
import { GatewayError } from '../pipeline/errors.js';
import type { Store } from '../storage/ports.js';
import type { MountedHandler } from '../http/server.js';
import { createUpstreamOAuthRoutes, type UpstreamOAuthRoutes } from './upstream-oauth/routes.js';
import { DEFAULT_VIEW } from '../catalog/view.js';
import { Authenticator, type VerifiedToken } from './resource/authenticator.js';
import { rememberSubjectToken } from './subject-tokens.js';
import { canonicalBase, metadataUrl, resourceUri } from './resource/resources.js';
import { protectedResourceMetadata } from './resource/prm.js';
import { setupSecrets, type SecretsSetup } from './secrets/setup.js';
import { TokenVerifier } from './tokens/verifier.js';
import { createApiKey, verifyApiKey } from './keys/api-key.js';
import type { AdminKeys } from '../http/admin/keys.js';
import { loadKeyHashKey } from './keys/hash-key.js';
import { createAuthorizationServer, type AuthorizationServer } from './server/provider.js';
import { TrustedIssuer, type TrustedIssuerConfig } from './tokens/config.js';
import { UpstreamOAuth } from './upstream-oauth/client.js';

export interface Identity {
  readonly authenticator: Authenticator;
  readonly adminKeys: AdminKeys;
  metadataUrl(endpoint: string): string;
  prm(endpoint: string): Record<string, unknown> | undefined;
  authServer(): MountedHandler | undefined;
  /** Handlers the front door mounts beside its router (authorization server, upstream OAuth routes). */
  mounts(): readonly MountedHandler[];
  /** The secret layer (resolver for upstream credentials), once started. */
  secrets(): SecretsSetup | undefined;
  /** The OAuth client of an upstream with `auth: {type: oauth}`. */
  oauthFor(upstream: string): UpstreamOAuth | undefined;
  /** Builds everything that needs the bound URL; call once after listen. */
  start(boundUrl: string): Promise<void>;
  close(): Promise<void>;
}

/** The name the built-in authorization server has among trusted issuers. */
export const BUILT_IN_ISSUER = 'portcullis';

export function createIdentity(holder: SnapshotHolder, store: Store, log: Logger): Identity {
  let base = '';
  let secrets: SecretsSetup | undefined;
  let verifier: TokenVerifier | undefined;
  let hashKey: Buffer | undefined;
  let as: AuthorizationServer | undefined;
  let issuers: string[] = [];
  let oauthClients = new Map<string, UpstreamOAuth>();
  let oauthRoutes: UpstreamOAuthRoutes | undefined;
  let perUserOAuth = false;

  /** One OAuth client per upstream with `auth: {type: oauth}`; they read tokens an operator stored. */
  const buildOAuthClients = async (s: Snapshot): Promise<void> => {
    if (!secrets) return;
    const next = new Map<string, UpstreamOAuth>();
    for (const u of s.upstreams) {
      if (u.kind === 'stdio' || u.auth?.type !== 'oauth') continue;
      const a = u.auth;
      const clientSecret = a.clientSecret ? await secrets.resolveSecret(a.clientSecret) : undefined;
      next.set(
        u.name,
        new UpstreamOAuth({
          upstream: u.name,
          serverUrl: u.url,
          redirectUri: `${base}/oauth/upstream/callback`,
          secrets: secrets.secrets,
          clientName: a.clientName,
          allowPrivateNetwork: a.allowPrivateNetwork,
          logger: log,
          // A caller without a token gets a one-time link to /oauth/upstream/<name>/authorize.
          authorizeBase: base,
          ...(a.scope ? { scope: a.scope } : {}),
          ...(a.clientId ? { clientId: a.clientId } : {}),
          ...(clientSecret ? { clientSecret } : {}),
          ...(a.clientMetadataUrl ? { clientMetadataUrl: a.clientMetadataUrl } : {}),
        }),
      );
    }
    const old = oauthClients;
    oauthClients = next;
    perUserOAuth = s.upstreams.some((u) => u.kind !== 'stdio' && u.auth?.type === 'oauth' && u.auth.identity === 'user');
    oauthRoutes ??= createUpstreamOAuthRoutes({ clientFor: (n) => oauthClients.get(n), secureCookies: base.startsWith('https:'), logger: log });
    for (const c of old.values()) await c.close();
  };

  const endpoints = (s: Snapshot): string[] => [DEFAULT_VIEW, ...s.virtualServers.map((v) => v.name)];

  const verifyToken = async (token: string): Promise<VerifiedToken> => {
    // No trusted issuer (yet): e.g. `auth` was added by a reload; a restart loads the rest.
    if (!verifier) throw new GatewayError('ERR_INVALID_TOKEN', undefined, { detail: { reason: 'no-issuer' } });
    const v = await verifier.verify(token);
    // Upstreams with token exchange act on the caller's behalf with this token.
    rememberSubjectToken(v.principal, token);
    return { principal: v.principal, audiences: v.audiences, issuerAudience: v.issuerAudience };
  };
  const verifyKey = async (key: string): Promise<Principal> => {
    // Turning API keys off takes effect at once (fail closed); turning them on needs a restart
    // (the hash key is loaded at start: config/start-only.ts).
    if (holder.current.auth.settings?.apiKeys.enabled !== true) throw new GatewayError('ERR_INVALID_TOKEN', undefined, { detail: { reason: 'api-keys-disabled' } });
    if (!hashKey) throw new GatewayError('ERR_INVALID_TOKEN', undefined, { detail: { reason: 'api-keys-not-started' } });
    const r = await verifyApiKey(store.apiKeys, hashKey, key, new Date(), {
      onTouchError: (err, id) => log.warn({ err, key: id }, 'api_key.touch_failed'),
    });
    return Object.freeze({
      subject: `key:${r.id}`,
      tenant: r.tenant,
      roles: Object.freeze([...r.roles]),
      groups: Object.freeze([] as string[]),
      authMethod: 'api-key' as const,
      issuer: 'api-key',
      virtualServers: Object.freeze([...r.virtualServers]),
    });
  };

  const authenticator = new Authenticator({
    auth: () => holder.current.auth,
    base: () => base,
    verifyToken,
    verifyApiKey: verifyKey,
  });

  /** (Re)builds the verifier from the current snapshot: issuers may change on reload. */
  const buildVerifier = (s: Snapshot): void => {
    const settings = s.auth.settings;
    if (!settings || !secrets) {
      verifier = undefined;
      issuers = [];
      return;
    }
    const list: TrustedIssuerConfig[] = [...settings.issuers];
    if (as) list.unshift(builtInIssuer(base));
    verifier = new TokenVerifier({
      issuers: list,
      defaultAudiences: endpoints(s).map((e) => resourceUri(base, e)),
      resolveSecret: secrets.resolveSecret,
      logger: log,
      // The built-in server's tokens are checked with its in-process keys: no JWKS round trip.
      ...(as ? { localKeys: { [base]: () => as?.jwks() ?? { keys: [] } } } : {}),
    });
    issuers = list.map((i) => i.issuer);
  };

  const adminKeys: AdminKeys = {
    enabled: () => holder.current.auth.mode === 'required' && holder.current.auth.settings?.apiKeys.enabled === true && hashKey !== undefined,
    isAdmin: (p) => p.authMethod !== 'anonymous' && (holder.current.auth.settings?.adminRoles ?? []).some((r) => p.roles.includes(r)),
    async create(p, opts) {
      if (!hashKey) throw new Error('API keys not started');
      return createApiKey(store.apiKeys, hashKey, { ...opts, tenant: p.tenant });
    },
    list: (tenant) => store.apiKeys.list(tenant),
    async revoke(tenant, id) {
      const k = await store.apiKeys.get(id);
      // Another tenant's key is "not found", not "forbidden": its existence is not disclosed.
      if (!k || k.tenant !== tenant) return false;
      return store.apiKeys.revoke(id, new Date());
    },
  };

  return {
    authenticator,
    adminKeys,
    metadataUrl: (endpoint) => metadataUrl(base || 'http://127.0.0.1', endpoint),
    prm(endpoint) {
      const s = holder.current;
      if (s.auth.mode !== 'required') return undefined;
      return protectedResourceMetadata({
        resource: resourceUri(base, endpoint),
        authorizationServers: issuers,
        scopes: authenticator.scopesFor(endpoint),
        name: endpoint === DEFAULT_VIEW ? 'Portcullis' : `Portcullis: ${endpoint}`,
      });
    },
    authServer: () => as,
    // The upstream OAuth routes matter only while some upstream uses identity: user.
    mounts: () => [...(as ? [as] : []), ...(oauthRoutes && perUserOAuth ? [oauthRoutes] : [])],
    secrets: () => secrets,
    oauthFor: (upstream) => oauthClients.get(upstream),
    async start(boundUrl) {
      const s = holder.current;
      const settings = s.auth.settings;
      base = canonicalBase(settings?.resource ?? s.gateway.publicUrl, boundUrl);
      secrets = await setupSecrets({
        store: store.secrets,
        storage: s.gateway.storage,
        dataDir: s.gateway.dataDir,
        configDir: s.configDir,
        config: s.config.secretStore,
        logger: log,
      });
      await buildOAuthClients(s);
      holder.onSwap((next) => {
        buildOAuthClients(next).catch((e: unknown) => log.error({ err: (e as Error).message }, 'upstream_oauth.rebuild_failed'));
      });
      if (!settings) return;
      if (settings.apiKeys.enabled) {
        hashKey = await loadKeyHashKey({
          ...(settings.apiKeys.hashKey ? { ref: settings.apiKeys.hashKey } : {}),
          resolveSecret: secrets.resolveSecret,
          dataDir: s.gateway.dataDir,
          storage: s.gateway.storage,
        });
      }
      if (settings.authorizationServer.enabled) {
        as = await createAuthorizationServer({
          issuer: base,
          resources: endpoints(s).map((e) => resourceUri(base, e)),
          scopes: s.auth.scopes.map((sc) => sc.name),
          users: store.users,
          cfg: settings.authorizationServer,
          dataDir: s.gateway.dataDir,
          storage: s.gateway.storage,
          logger: log,
          resolveSecret: secrets.resolveSecret,
          oauthState: store.oauthState,
          // Stable across restarts, so a browser's sign-in session outlives a gateway restart.
          cookieKeys: [await cookieKey(s.gateway.dataDir, s.gateway.storage)],
        });
      }
      buildVerifier(s);
      // (A change to the authorization server's settings waits for a restart: config/start-only.ts.)
      holder.onSwap((next) => buildVerifier(next));
    },
    async close() {
      for (const c of oauthClients.values()) await c.close();
      await as?.close();
    },
  };
}

/** The key signing the authorization server's cookies: `<dataDir>/as-cookie.key`, or per process in memory mode. */
async function cookieKey(dataDir: string, storage: 'sqlite' | 'memory'): Promise<string> {
  if (storage === 'memory') return randomBytes(32).toString('base64url');
  const path = join(dataDir, 'as-cookie.key');
  await createPrivateFile(path, `${randomBytes(32).toString('base64url')}\n`);
  const key = (await readFile(path, 'utf8')).trim();
  if (key.length < 32) throw new Error(`${path}: too short to sign cookies; remove it to generate a new one`);
  return key;
}

/** The built-in authorization server as a trusted issuer: RFC 9068 tokens with tenant and roles claims. */
function builtInIssuer(base: string): TrustedIssuerConfig {
  return TrustedIssuer.parse({
    name: BUILT_IN_ISSUER,
    issuer: base,
    jwksUri: `${base}/jwks`,
    algorithms: ['RS256', 'ES256'],
    requireTyp: 'at+jwt',
    claims: { tenant: 'tenant', roles: 'roles' },
  });
}
