/**
 * `auth` of an HTTP upstream (streamable-http, sse): the credentials the gateway presents to the
 * upstream on its own behalf, or on behalf of the caller (token exchange). The client's own
 * credentials are never forwarded (no token passthrough, checklist A5).
 */
import { OAuthUpstreamAuth } from '../upstream-oauth/config.js';
import { z } from 'zod';
import { SecretRef } from '../secrets/ref.js';

/**
 * Headers a credential may not set: framing and hop-by-hop headers, the client-side session
 * headers, and every header the MCP transport owns (they would be dropped or would clash).
 */
const FORBIDDEN_HEADERS = new Set([
  'host',
  'content-length',
  'connection',
  'transfer-encoding',
  'cookie',
  'mcp-session-id',
  'mcp-protocol-version',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'proxy-connection',
  'expect',
  'accept',
  'content-type',
  'mcp-method',
  'mcp-name',
  'last-event-id',
  'traceparent',
]);

/** Why a header name may not carry a credential, or undefined when it may. */
export function headerNameProblem(name: string): string | undefined {
  const n = name.toLowerCase();
  if (FORBIDDEN_HEADERS.has(n) || n.startsWith('mcp-param-')) return `header "${name}" is reserved for the transport and cannot carry a credential`;
  return undefined;
}

const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost']);

/**
 * Why a token endpoint URL is unacceptable, or undefined when it is fine: https, or http on a
 * loopback host only (a local IdP, tests); no credentials or fragment in the URL.
 */
export function tokenUrlProblem(raw: string): string | undefined {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return 'not a valid URL';
  }
  if (u.username !== '' || u.password !== '') return 'must not contain credentials';
  if (u.hash !== '') return 'must not contain a fragment';
  if (u.protocol === 'https:') return undefined;
  if (u.protocol === 'http:' && LOOPBACK.has(u.hostname.toLowerCase())) return undefined;
  if (u.protocol === 'http:') return 'must use https (plain http only on 127.0.0.1, ::1 or localhost)';
  return 'must be an https URL';
}

const TokenUrl = z
  .string()
  .max(2048)
  .superRefine((v, ctx) => {
    const p = tokenUrlProblem(v);
    if (p) ctx.addIssue({ code: 'custom', message: `token endpoint ${p}` });
  })
  .describe('The OAuth token endpoint: https, or http on 127.0.0.1, ::1 or localhost only. Redirects are never followed.');

const ClientId = z
  .string()
  .regex(/^[\x20-\x7e]{1,255}$/, 'printable ASCII, at most 255 characters')
  .describe('OAuth client id of the gateway at that authorization server.');

// RFC 6749 §3.3 scope tokens separated by single spaces; the separator makes the match linear.
const Scope = z
  .string()
  .max(1000)
  .regex(/^[\x21\x23-\x5b\x5d-\x7e]+(?: [\x21\x23-\x5b\x5d-\x7e]+)*$/, 'space-separated scope tokens');
const SCOPE_DOC = 'Space-separated scopes to request.';

const Resource = z
  .string()
  .max(2048)
  .superRefine((v, ctx) => {
    try {
      if (new URL(v).hash !== '') ctx.addIssue({ code: 'custom', message: 'resource must not contain a fragment (RFC 8707)' });
    } catch {
      ctx.addIssue({ code: 'custom', message: 'resource must be an absolute URI (RFC 8707)' });
    }
  });
const RESOURCE_DOC = 'Resource indicator (RFC 8707): the absolute URI of the upstream the token is for.';

const Audience = z.string().regex(/^[\x21-\x7e]{1,1000}$/, 'printable ASCII without spaces');
const AUDIENCE_DOC = 'Logical name of the target service, for authorization servers that use `audience`.';

const AuthMethod = z
  .enum(['client_secret_basic', 'client_secret_post'])
  .default('client_secret_basic')
  .describe('How the client authenticates to the token endpoint: HTTP Basic (default) or form fields.');

export const BearerAuth = z
  .object({
    type: z.literal('bearer').describe('Send `Authorization: Bearer <token>`.'),
    token: SecretRef.describe('The token. Re-read at most every 60 s, so a rotated file or store entry is picked up.'),
  })
  .strict();

export const HeaderAuth = z
  .object({
    type: z.literal('header').describe('Send the secret in a header of your choice (e.g. an API key header).'),
    name: z
      .string()
      .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/, 'an HTTP header name (token characters, at most 64)')
      .superRefine((v, ctx) => {
        const p = headerNameProblem(v);
        if (p) ctx.addIssue({ code: 'custom', message: p });
      })
      .describe('Header name, e.g. `X-API-Key`. Transport and session headers are refused.'),
    value: SecretRef.describe('The header value. Re-read at most every 60 s.'),
  })
  .strict();

export const ClientCredentialsAuth = z
  .object({
    type: z.literal('client-credentials').describe('OAuth 2 client credentials grant: the gateway gets its own token and refreshes it before expiry.'),
    tokenUrl: TokenUrl,
    clientId: ClientId,
    clientSecret: SecretRef.describe('The client secret.'),
    scope: Scope.optional().describe(SCOPE_DOC),
    resource: Resource.optional().describe(RESOURCE_DOC),
    audience: Audience.optional().describe(AUDIENCE_DOC),
    authMethod: AuthMethod,
  })
  .strict();

export const TokenExchangeAuth = z
  .object({
    type: z
      .literal('token-exchange')
      .describe("OAuth 2 token exchange (RFC 8693): the caller's verified access token is exchanged for an upstream token on the caller's behalf. Callers without an OAuth token are refused."),
    tokenUrl: TokenUrl,
    clientId: ClientId,
    clientSecret: SecretRef.describe('The client secret.'),
    audience: Audience.optional().describe(AUDIENCE_DOC),
    resource: Resource.optional().describe(RESOURCE_DOC),
    scope: Scope.optional().describe(SCOPE_DOC),
    subjectTokenType: z
      .string()
      .regex(/^urn:[\x21-\x7e]{1,200}$/, 'a token type URN')
      .default('urn:ietf:params:oauth:token-type:access_token')
      .describe("`subject_token_type` sent with the caller's token."),
    authMethod: AuthMethod,
  })
  .strict();

export const UpstreamAuth = z
  .discriminatedUnion('type', [BearerAuth, HeaderAuth, ClientCredentialsAuth, TokenExchangeAuth, OAuthUpstreamAuth])
  .describe('Credentials the gateway presents to this upstream. The client’s own credentials are never forwarded.');

export type UpstreamAuth = z.infer<typeof UpstreamAuth>;
export type BearerAuth = z.infer<typeof BearerAuth>;
export type HeaderAuth = z.infer<typeof HeaderAuth>;
export type ClientCredentialsAuth = z.infer<typeof ClientCredentialsAuth>;
export type TokenExchangeAuth = z.infer<typeof TokenExchangeAuth>;
