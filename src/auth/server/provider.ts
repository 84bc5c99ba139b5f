/**
 * The built-in OAuth 2.1 authorization server as a request handler the front door mounts:
 * oidc-provider for the protocol endpoints, our own pages for login and consent, the RFC 8414
 * metadata path, and signing keys that rotate without invalidating tokens in flight.
 *
 * The front door hands over every path `owns()` claims, with the body unread.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EventEmitter } from 'node:events';
import type { JWK } from 'jose';
import Provider, { type Configuration } from 'oidc-provider';
import { parseDuration } from '../../config/units.js';
import type { OAuthStateStore, UserStore } from '../../storage/ports.js';
import { DEFAULT_MEMORY_LIMITS, MemoryAdapterStore } from './adapter-memory.js';
import { DEFAULT_STORE_CAPS, StoredConsents, storeAdapterFactory } from './adapter-store.js';
import type { AuthorizationServerConfig } from './config.js';
import { createGuardedFetch } from './egress.js';
import { createInteractionHandler } from './interactions.js';
import type { ResolveSecret } from '../secrets/ref.js';
import { FederatedAccounts } from './federation-accounts.js';
import { Federation } from './federation.js';
import { SigningKeys } from './keys.js';
import { buildProviderConfig, FIXED_TTL, type ProviderConfigInput } from './provider-config.js';
import { TtlMap } from './ttl-map.js';

/** pino-like logger. */
export interface AsLogger {
  info(o: object, m?: string): void;
  warn(o: object, m?: string): void;
  error(o: object, m?: string): void;
}

/** What `createAuthorizationServer` needs. */
export interface AuthorizationServerOptions {
  /** Exact issuer: scheme, host and port, no path, no trailing slash (e.g. http://127.0.0.1:8080). */
  issuer: string;
  /** Canonical resource URIs tokens may be issued for (RFC 8707); the first is the default. */
  resources: string[];
  /** Resource scopes (e.g. `mcp:tools`); `openid` and `offline_access` are always added. */
  scopes: string[];
  /** Shown next to each scope on the consent page. */
  scopeDescriptions?: Record<string, string>;
  users: UserStore;
  cfg: AuthorizationServerConfig;
  dataDir: string;
  storage: 'sqlite' | 'memory';
  logger: AsLogger;
  /** Keys that sign the AS cookies (newest first); default: random per process. */
  cookieKeys?: string[];
  /** Client address for the login attempt limit; default: the socket's remote address. */
  clientIp?: (req: IncomingMessage) => string;
  /** How often the signing key's age is checked, in ms (tests shorten it); default up to 15 min. */
  keyCheckIntervalMs?: number;
  /**
   * Where clients, grants, sessions, codes, tokens and remembered consents are kept. Given: they
   * live in this store (surviving a restart on a persistent backend) and expired records are
   * pruned every 10 minutes. Omitted: a process-local bounded memory adapter.
   */
  oauthState?: OAuthStateStore;
  /** Resolves the `clientSecret` of federation providers (needed only when one has a secret). */
  resolveSecret?: ResolveSecret;
}

/** The mounted authorization server. */
export interface AuthorizationServer {
  /** Serves one request for a path `owns()` claimed. Never rejects. */
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /** True for every path the authorization server serves. */
  owns(path: string): boolean;
  /** Route patterns served without a bearer token, for the route inventory. */
  publicPaths: string[];
  /** Public keys of every published signing key (verify AS-issued tokens locally with these). */
  jwks(): { keys: JWK[] };
  close(): Promise<void>;
}

const AS_METADATA = '/.well-known/oauth-authorization-server';
const OIDC_METADATA = '/.well-known/openid-configuration';
/** How often the signing key's age is checked. */
const ROTATION_CHECK_MS = 15 * 60_000;
/** How often expired records are deleted from `oauthState`. */
const PRUNE_INTERVAL_MS = 10 * 60_000;
/** Most remembered consents (user, client) kept. */
const MAX_CONSENTS = 100_000;

/** Checks an issuer string: an origin with nothing after it. */
function checkIssuer(issuer: string): URL {
  const u = new URL(issuer);
  if ((u.protocol !== 'https:' && u.protocol !== 'http:') || u.origin !== issuer) {
    throw new Error(`authorization server issuer must be an origin without path or trailing slash, got ${JSON.stringify(issuer)}`);
  }
  return u;
}

/** Builds the authorization server (generating or loading its signing keys). */
export async function createAuthorizationServer(opts: AuthorizationServerOptions): Promise<AuthorizationServer> {
  const issuerUrl = checkIssuer(opts.issuer);
  if (opts.resources.length === 0) throw new Error('authorization server needs at least one resource');
  for (const r of opts.resources) if (!r.startsWith(`${opts.issuer}/`)) throw new Error(`resource ${r} is not under the issuer ${opts.issuer}`);
  const { cfg, logger } = opts;
  const accessTtlMs = parseDuration(cfg.accessTokenTtl);
  const refreshTtlMs = parseDuration(cfg.refreshTokenTtl);

  const keys = await SigningKeys.open({
    dataDir: opts.dataDir,
    persist: opts.storage !== 'memory',
    rotateAfterMs: parseDuration(cfg.signingKeyRotation),
    // Tokens signed just before a rotation stay valid for their lifetime, plus clock skew.
    keepRetiredMs: accessTtlMs + 5 * 60_000,
    logger,
  });
  const errMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e));
  const { oauthState } = opts;
  let adapter: Configuration['adapter'];
  let consents: TtlMap<string>;
  if (oauthState) {
    // Built once: its record-count cache outlives provider rebuilds (key rotation).
    adapter = storeAdapterFactory({
      store: oauthState,
      // The memory adapter's client cap, plus caps on the other models anonymous requests create.
      caps: { ...DEFAULT_STORE_CAPS, Client: DEFAULT_MEMORY_LIMITS.maxClients },
      onRefuse: (model, cap) => logger.warn({ event: 'as.store_full', model, cap }, 'authorization server: record cap reached, new record refused'),
    });
    consents = await StoredConsents.open(oauthState, MAX_CONSENTS, refreshTtlMs, (e) =>
      logger.error({ event: 'as.consent_store_failed', err: errMessage(e) }, 'authorization server: storing a consent failed'),
    );
  } else {
    const memory = new MemoryAdapterStore(DEFAULT_MEMORY_LIMITS, (model, total) => {
      if (total === 1 || total % 1000 === 0) logger.warn({ model, evictions: total }, 'authorization server: memory store full, oldest entries evicted');
    });
    adapter = memory.factory();
    consents = new TtlMap<string>(MAX_CONSENTS, refreshTtlMs);
  }
  const guarded = createGuardedFetch({ allowLoopback: cfg.clientIdMetadataDocuments.enabled && cfg.clientIdMetadataDocuments.allowLoopback });
  const cookieKeys = opts.cookieKeys?.length ? opts.cookieKeys : [randomBytes(32).toString('base64url')];
  const secure = issuerUrl.protocol === 'https:';
  // Federated sign-in: the accounts outlive every refresh token issued during their sign-in session.
  const fedEntries = cfg.federation ?? [];
  const federatedAccounts = new FederatedAccounts(refreshTtlMs + FIXED_TTL.session * 1000);
  const federation = fedEntries.length > 0 ? new Federation({ issuer: opts.issuer, entries: fedEntries, logger, ...(opts.resolveSecret ? { resolveSecret: opts.resolveSecret } : {}) }) : undefined;
  federation?.warmUp();

  const base: Omit<ProviderConfigInput, 'jwks'> = {
    resources: opts.resources,
    scopes: opts.scopes,
    users: opts.users,
    accessTtlSec: Math.floor(accessTtlMs / 1000),
    refreshTtlSec: Math.floor(refreshTtlMs / 1000),
    registration: cfg.registration.enabled,
    staticClients: cfg.staticClients,
    cookieKeys,
    secureCookies: secure,
    consents,
    cimd: cfg.clientIdMetadataDocuments.enabled,
    fetch: guarded.fetch,
    federatedAccounts,
  };

  const build = (): { provider: Provider; callback: (req: IncomingMessage, res: ServerResponse) => Promise<void> } => {
    const provider = new Provider(opts.issuer, buildProviderConfig({ ...base, jwks: keys.privateJwks() }, adapter));
    // The handler below rewrites the forwarding headers to the issuer's own values, so trusting
    // them only ever yields the issuer's scheme and host (cookies get Secure on an https issuer).
    provider.proxy = true;
    provider.on('server_error', (_ctx, err: Error) => logger.error({ event: 'as.server_error', err: err.message }, 'authorization server: internal error'));
    provider.on('grant.revoked', () => logger.info({ event: 'as.grant_revoked' }, 'authorization server: grant revoked'));
    // oidc-provider 9's Provider is the Koa app: its 'error' event replaces Koa's console logging.
    (provider as unknown as EventEmitter).on('error', (err: Error) => logger.error({ event: 'as.app_error', err: err.message }, 'authorization server: request failed'));
    const cb = provider.callback() as unknown as (req: IncomingMessage, res: ServerResponse) => Promise<void>;
    return { provider, callback: cb };
  };
  let current = build();

  const interactions = createInteractionHandler({
    provider: () => current.provider,
    users: opts.users,
    consents,
    issuerOrigin: issuerUrl.origin,
    clientIp: opts.clientIp ?? ((req) => req.socket.remoteAddress ?? ''),
    scopeDescriptions: new Map(Object.entries(opts.scopeDescriptions ?? {})),
    ...(federation ? { federation: { providers: federation, accounts: federatedAccounts } } : {}),
    logger,
  });

  let rotating = false;
  const timer = setInterval(() => {
    if (rotating) return;
    rotating = true;
    keys
      .rotateIfDue()
      .then((changed) => {
        if (changed) current = build();
      })
      .catch((e: unknown) => logger.error({ event: 'as.key_rotation_failed', err: e instanceof Error ? e.message : String(e) }, 'authorization server: key rotation failed'))
      .finally(() => {
        rotating = false;
      });
  }, opts.keyCheckIntervalMs ?? Math.min(ROTATION_CHECK_MS, Math.max(60_000, Math.floor(accessTtlMs / 2))));
  timer.unref();

  let pruning: Promise<void> | undefined;
  const prune = (): void => {
    if (!oauthState || pruning) return;
    pruning = oauthState
      .prune(new Date())
      .then((n) => {
        if (n > 0) logger.info({ event: 'as.pruned', records: n }, 'authorization server: expired records deleted');
      })
      .catch((e: unknown) => logger.error({ event: 'as.prune_failed', err: errMessage(e) }, 'authorization server: pruning expired records failed'))
      .finally(() => {
        pruning = undefined;
      });
  };
  const pruneTimer = oauthState ? setInterval(prune, PRUNE_INTERVAL_MS) : undefined;
  pruneTimer?.unref();
  prune();

  const exact = new Set(['/auth', '/token', '/token/revocation', '/jwks', OIDC_METADATA, AS_METADATA, ...(cfg.registration.enabled ? ['/reg'] : [])]);
  const owns = (path: string): boolean =>
    exact.has(path) || path.startsWith('/auth/') || path.startsWith('/interaction/') || path.startsWith(`${AS_METADATA}/`);

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      const raw = req.url ?? '/';
      const q = raw.indexOf('?');
      const path = q === -1 ? raw : raw.slice(0, q);
      const search = q === -1 ? '' : raw.slice(q);
      // oidc-provider derives URLs and cookie security from these; pin them to the issuer.
      req.headers['x-forwarded-proto'] = issuerUrl.protocol.slice(0, -1);
      req.headers['x-forwarded-host'] = issuerUrl.host;
      delete req.headers['x-forwarded-for'];
      if (path.startsWith('/interaction/')) return await interactions(req, res, path);
      if (path === AS_METADATA) req.url = `${OIDC_METADATA}${search}`;
      else if (path.startsWith(`${AS_METADATA}/`)) return notFound(res); // RFC 8414 path form names another issuer
      else if (!owns(path)) return notFound(res);
      await current.callback(req, res);
    } catch (e) {
      logger.error({ event: 'as.handle_failed', err: e instanceof Error ? e.message : String(e) }, 'authorization server: request failed');
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        res.end(JSON.stringify({ error: 'server_error' }));
      } else res.end();
    }
  };

  return {
    handle,
    owns,
    publicPaths: [
      AS_METADATA,
      `${AS_METADATA}/*`,
      OIDC_METADATA,
      '/auth',
      '/auth/:uid',
      '/token',
      '/token/revocation',
      '/jwks',
      ...(cfg.registration.enabled ? ['/reg'] : []),
      '/interaction/:uid',
      '/interaction/:uid/login',
      '/interaction/:uid/confirm',
      '/interaction/:uid/abort',
      ...(federation ? ['/interaction/:uid/federated/:name', '/interaction/callback/federated'] : []),
    ],
    jwks: () => keys.publicJwks(),
    close: async () => {
      clearInterval(timer);
      clearInterval(pruneTimer);
      // The caller closes the store next: let the store writes already started land first.
      await pruning;
      if (consents instanceof StoredConsents) await consents.flush();
      await guarded.close();
      await federation?.close();
    },
  };
}

function notFound(res: ServerResponse): void {
  res.writeHead(404, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify({ error: 'not_found' }));
}

