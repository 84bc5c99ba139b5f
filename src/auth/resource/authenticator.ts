/**
 * The front door's authentication step, run before a request body is read (security-checklist
 * A4). Open modes answer synchronously with the anonymous principal, so the hot path pays nothing;
 * required mode takes a bearer token (a JWT or opaque token from a trusted issuer, or an API key)
 * and checks audience and scope for the endpoint being called.
 */
import type { IncomingMessage } from 'node:http';
import type { Principal } from '../../pipeline/context.js';
import { GatewayError } from '../../pipeline/errors.js';
import type { CompiledAuth } from '../compile.js';
import { ANONYMOUS } from '../../stages/authenticate/authenticate.js';
import { resourceUri } from './resources.js';

/** A verified access token, as the token verifier reports it. */
export interface VerifiedToken {
  principal: Principal;
  /** The token's `aud` values. */
  audiences: readonly string[];
  /** True when the issuer has its own configured audiences (an API audience, not per-endpoint URIs). */
  issuerAudience: boolean;
}

export interface AuthenticatorDeps {
  auth: () => CompiledAuth;
  /** Canonical base URL (RFC 8707), known once the listener is bound. */
  base: () => string;
  verifyToken?: (token: string) => Promise<VerifiedToken>;
  verifyApiKey?: (key: string) => Promise<Principal>;
}

const API_KEY_PREFIX = 'pcl_';
const MAX_CREDENTIAL = 16 * 1024;

export class Authenticator {
  constructor(private readonly deps: AuthenticatorDeps) {}

  /** True when requests need credentials (the mode of the current snapshot). */
  get required(): boolean {
    return this.deps.auth().mode === 'required';
  }

  /**
   * The caller of a request to `endpoint`, or a promise of it. Throws (or rejects with) a
   * GatewayError carrying an auth code; the caller answers it with `sendAuthError`.
   */
  principalFor(req: IncomingMessage, endpoint: string): Principal | Promise<Principal> {
    if (!this.required) return ANONYMOUS;
    if (hasQueryCredential(req.url)) throw new GatewayError('ERR_TOKEN_IN_QUERY');
    const presented = credentialOf(req);
    if (presented === undefined) throw new GatewayError('ERR_UNAUTHENTICATED');
    if (presented.startsWith(API_KEY_PREFIX)) return this.viaApiKey(presented, endpoint);
    return this.viaToken(presented, endpoint);
  }

  /** The scopes a token needs for `endpoint`: every configured scope that opens it (cached per snapshot). */
  scopesFor(endpoint: string): readonly string[] {
    const auth = this.deps.auth();
    if (this.scopeCache?.auth !== auth) this.scopeCache = { auth, byEndpoint: new Map() };
    let names = this.scopeCache.byEndpoint.get(endpoint);
    if (!names) {
      names = auth.scopes.filter((s) => !s.servers || s.servers.has(endpoint)).map((s) => s.name);
      // Bounded by the configured endpoints; an unknown name never reaches here (404 first).
      if (this.scopeCache.byEndpoint.size < 1024) this.scopeCache.byEndpoint.set(endpoint, names);
    }
    return names;
  }

  private scopeCache: { auth: CompiledAuth; byEndpoint: Map<string, readonly string[]> } | undefined;

  private async viaApiKey(key: string, endpoint: string): Promise<Principal> {
    const verify = this.deps.verifyApiKey;
    if (!verify) throw new GatewayError('ERR_INVALID_TOKEN', undefined, { detail: { reason: 'api-keys-disabled' } });
    const p = await verify(key);
    if (p.virtualServers && p.virtualServers.length > 0 && !p.virtualServers.includes(endpoint)) {
      throw new GatewayError('ERR_INSUFFICIENT_SCOPE', 'This API key is not valid for this endpoint', { detail: { reason: 'key-endpoint' } });
    }
    return p;
  }

  private async viaToken(token: string, endpoint: string): Promise<Principal> {
    const verify = this.deps.verifyToken;
    if (!verify) throw new GatewayError('ERR_INVALID_TOKEN', undefined, { detail: { reason: 'no-issuer' } });
    const v = await verify(token);
    // RFC 8707: a token minted for one endpoint is not good for another, unless the issuer uses
    // one API audience for the whole gateway (configured per issuer).
    if (!v.issuerAudience && !v.audiences.includes(resourceUri(this.deps.base(), endpoint))) {
      throw new GatewayError('ERR_INVALID_TOKEN', undefined, { detail: { reason: 'audience' } });
    }
    const needed = this.scopesFor(endpoint);
    const granted = v.principal.scopes ?? [];
    if (!needed.some((s) => granted.includes(s))) {
      throw new GatewayError('ERR_INSUFFICIENT_SCOPE', undefined, { detail: { reason: 'scope' }, data: { requiredScopes: needed } });
    }
    return v.principal;
  }
}

/** `Authorization: Bearer <token>` or `X-API-Key: <key>`; undefined when neither is usable. */
function credentialOf(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  if (typeof h === 'string') {
    const m = /^bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(h.length <= MAX_CREDENTIAL + 16 ? h : '');
    return m?.[1];
  }
  const k = req.headers['x-api-key'];
  if (typeof k === 'string' && k.length <= MAX_CREDENTIAL && /^[A-Za-z0-9_-]+$/.test(k)) return k;
  return undefined;
}

/** RFC 6750 §2.3 query tokens are refused: URLs end up in logs and browser history. */
function hasQueryCredential(url: string | undefined): boolean {
  const q = url?.indexOf('?') ?? -1;
  if (q < 0 || url === undefined) return false;
  const params = new URLSearchParams(url.slice(q + 1));
  return params.has('access_token') || params.has('api_key') || params.has('apikey');
}
