/**
 * Composition of the identity parts for one gateway process: the secret layer, the token
 * verifier for trusted issuers (the built-in authorization server is one of them), API keys, and
 * the built-in authorization server itself. Built once the listener is bound, because the
 * canonical resource URIs and the built-in issuer contain the bound port.
 */
import type { SnapshotHolder } from '../config/holder.js';
import type { Snapshot } from '../config/compile.js';
import type { Logger } from '../observability/logger.js';
import type { Principal } from '../pipeline/context.js';
import type { Store } from '../storage/ports.js';
import type { MountedAuthServer } from '../http/server.js';
import { DEFAULT_VIEW } from '../catalog/view.js';
import { Authenticator, type VerifiedToken } from './resource/authenticator.js';
import { canonicalBase, metadataUrl, resourceUri } from './resource/resources.js';
import { protectedResourceMetadata } from './resource/prm.js';
import { setupSecrets, type SecretsSetup } from './secrets/setup.js';
import { TokenVerifier } from './tokens/verifier.js';
import { verifyApiKey } from './keys/api-key.js';
import { loadKeyHashKey } from './keys/hash-key.js';
import { createAuthorizationServer, type AuthorizationServer } from './server/provider.js';
import { TrustedIssuer, type TrustedIssuerConfig } from './tokens/config.js';

export interface Identity {
  readonly authenticator: Authenticator;
  metadataUrl(endpoint: string): string;
  prm(endpoint: string): Record<string, unknown> | undefined;
  authServer(): MountedAuthServer | undefined;
  /** The secret layer (resolver for upstream credentials), once started. */
  secrets(): SecretsSetup | undefined;
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

  const endpoints = (s: Snapshot): string[] => [DEFAULT_VIEW, ...s.virtualServers.map((v) => v.name)];

  const verifyToken = async (token: string): Promise<VerifiedToken> => {
    if (!verifier) throw new Error('token verifier not started');
    const v = await verifier.verify(token);
    return { principal: v.principal, audiences: v.audiences, issuerAudience: v.issuerAudience };
  };
  const verifyKey = async (key: string): Promise<Principal> => {
    if (!hashKey) throw new Error('API keys not started');
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

  return {
    authenticator,
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
    secrets: () => secrets,
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
        });
      }
      buildVerifier(s);
      holder.onSwap((next) => {
        if (next.auth.settings && !settings.authorizationServer.enabled !== !next.auth.settings.authorizationServer.enabled) {
          log.warn('auth.authorization_server_change_needs_restart');
        }
        buildVerifier(next);
      });
    },
    async close() {
      await as?.close();
    },
  };
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
