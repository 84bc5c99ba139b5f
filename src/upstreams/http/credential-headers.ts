/**
 * The gateway's own credentials toward an HTTP upstream (src/auth/upstream: bearer, header, client
 * credentials, RFC 8693 token exchange of the caller's token on private links; src/auth/upstream-oauth:
 * an operator-authorized or per-user OAuth identity), kept current in the
 * link's header set. The link reads its static headers on every request, so refreshing the
 * object in place is enough: a client-credentials token is replaced before it expires, and a
 * rotated secret file is picked up, without reopening the link. Never the client's credentials.
 */
import type { Logger } from '../../observability/logger.js';
import type { UpstreamAuth } from '../../auth/upstream/config.js';
import type { ResolveSecret } from '../../auth/secrets/ref.js';
import { authContextOf, createUpstreamCredentials } from '../../auth/upstream/credentials.js';
import { GatewayError } from '../../pipeline/errors.js';

/** Below the 30 s expiry margin of cached tokens, so a refresh always lands before expiry. */
const REFRESH_MS = 15_000;
/** The gateway's own credentials are the same for every principal. */
const GATEWAY_CONTEXT = { principalKey: '' };

export interface CredentialHeaders {
  /** Static headers plus the current credential headers; mutated in place on refresh. */
  readonly headers: Record<string, string>;
  /** Non-secret description for the era-verdict cache key ('' when none). */
  readonly authContext: string;
  /** Refreshes until `isClosed()` turns true. */
  keepFresh(isClosed: () => boolean): void;
}

/** Where an upstream's authorization-code OAuth client comes from (src/auth/identity.ts). */
export type OAuthClientFor = (upstream: string) => { headers(principalKey: string): Promise<Record<string, string>> } | undefined;

/** The identity an operator authorized with `portcullis upstreams authorize` (links are per upstream, not per caller). */
const GATEWAY_PRINCIPAL = '@gateway';

export async function credentialHeaders(
  upstream: string,
  staticHeaders: Readonly<Record<string, string>>,
  auth: UpstreamAuth | undefined,
  resolveSecret: ResolveSecret | undefined,
  log: Logger,
  oauthFor?: OAuthClientFor,
  /** The caller a private link is for; undefined for the control link and shared links. */
  principalKey?: string,
  /** The caller's newest verified access token (token exchange). */
  subjectToken?: () => string | undefined,
): Promise<CredentialHeaders> {
  const headers: Record<string, string> = { ...staticHeaders };
  if (!auth) return { headers, authContext: '', keepFresh: () => undefined };
  let current: () => Promise<Record<string, string>>;
  if (auth.type === 'oauth') {
    const client = oauthFor?.(upstream);
    if (!client) throw new GatewayError('ERR_UPSTREAM_CREDENTIALS', `upstream ${upstream}: its OAuth client is not started`);
    // Throws ERR_UPSTREAM_AUTH_REQUIRED until someone has authorized: for the gateway identity the
    // error names the CLI command, for a user it carries a one-time authorizeUrl.
    const who = auth.identity === 'user' && principalKey !== undefined ? principalKey : GATEWAY_PRINCIPAL;
    current = () => client.headers(who);
  } else if (auth.type === 'token-exchange') {
    if (!resolveSecret) throw new GatewayError('ERR_UPSTREAM_CREDENTIALS', `upstream ${upstream}: the secret layer is not started`);
    if (principalKey === undefined) {
      // The control link (catalogue, health) acts for no caller: it uses the gateway's own
      // client-credentials token from the same token endpoint and client.
      const { subjectTokenType: _unused, type: _type, ...client } = auth;
      const creds = createUpstreamCredentials({ ...client, type: 'client-credentials' }, { resolveSecret, logger: log });
      current = () => creds.headers(GATEWAY_CONTEXT);
    } else {
      const creds = createUpstreamCredentials(auth, { resolveSecret, logger: log });
      current = () => {
        const t = subjectToken?.();
        // Without a token (an API key caller, say) the exchange refuses with ERR_UPSTREAM_AUTH_REQUIRED.
        return creds.headers(t ? { principalKey, subjectToken: t } : { principalKey });
      };
    }
  } else {
    if (!resolveSecret) throw new GatewayError('ERR_UPSTREAM_CREDENTIALS', `upstream ${upstream}: the secret layer is not started`);
    const creds = createUpstreamCredentials(auth, { resolveSecret, logger: log });
    current = () => creds.headers(GATEWAY_CONTEXT);
  }
  Object.assign(headers, await current());
  return {
    headers,
    authContext: authContextOf(auth),
    keepFresh(isClosed) {
      const timer = setInterval(() => {
        if (isClosed()) return clearInterval(timer);
        current().then(
          (h) => Object.assign(headers, h),
          (e: unknown) => log.warn({ upstream, err: (e as Error).message }, 'upstream.credentials_refresh_failed'),
        );
      }, REFRESH_MS);
      timer.unref();
    },
  };
}
