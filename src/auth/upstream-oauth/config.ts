/**
 * `auth: {type: oauth}` of an HTTP upstream: the gateway is an OAuth authorization-code client of
 * the upstream's own authorization server (MCP authorization spec: protected resource metadata,
 * RFC 8414 / OIDC discovery, pre-registration, CIMD or DCR, PKCE S256, RFC 8707 resource).
 */
import { z } from 'zod';
import { SecretRef } from '../secrets/ref.js';

/** Why a Client ID Metadata Document URL is unacceptable, or undefined when it is fine. */
export function clientMetadataUrlProblem(raw: string): string | undefined {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return 'must be an absolute URL';
  }
  if (u.protocol !== 'https:') return 'must be an https URL';
  if (u.username !== '' || u.password !== '') return 'must not contain credentials';
  if (u.hash !== '') return 'must not contain a fragment';
  // The CIMD draft requires a path: the URL itself is the client_id.
  if (u.pathname === '/' || u.pathname === '') return 'must have a path (the URL is the client_id)';
  return undefined;
}

// RFC 6749 §3.3 scope tokens separated by single spaces; the separator makes the match linear.
const Scope = z
  .string()
  .max(1000)
  .regex(/^[\x21\x23-\x5b\x5d-\x7e]+(?: [\x21\x23-\x5b\x5d-\x7e]+)*$/, 'space-separated scope tokens');

export const OAuthUpstreamAuth = z
  .object({
    type: z
      .literal('oauth')
      .describe(
        "OAuth authorization code flow against the upstream's own authorization server (discovered from its protected resource metadata). " +
          'The gateway identity is authorized once by an operator with `portcullis upstreams authorize NAME`; tokens are sealed in the secret store and refreshed automatically.',
      ),
    scope: Scope.optional().describe(
      'Space-separated scopes to request in addition to those the upstream challenges for. Omitted: the challenged scope, else every scope in its protected resource metadata, else none.',
    ),
    clientId: z
      .string()
      .regex(/^[\x20-\x7e]{1,255}$/, 'printable ASCII, at most 255 characters')
      .optional()
      .describe('A client id pre-registered at the upstream authorization server. Omitted: a Client ID Metadata Document (`clientMetadataUrl`) or dynamic registration.'),
    clientSecret: SecretRef.optional().describe('Secret of the pre-registered client (`clientId`), if it is a confidential client.'),
    clientMetadataUrl: z
      .string()
      .max(2048)
      .superRefine((v, ctx) => {
        const p = clientMetadataUrlProblem(v);
        if (p) ctx.addIssue({ code: 'custom', message: `clientMetadataUrl ${p}` });
      })
      .optional()
      .describe(
        'An https URL (with a path) where you publish this gateway\'s Client ID Metadata Document; used as the client_id when the authorization server advertises `client_id_metadata_document_supported`. Its `redirect_uris` must list the gateway\'s `/oauth/upstream/callback` URL.',
      ),
    clientName: z.string().min(1).max(100).default('Portcullis').describe('Client name sent in dynamic client registration (shown on consent screens).'),
    identity: z
      .enum(['gateway', 'user'])
      .default('gateway')
      .describe(
        "Whose authorization the upstream sees. gateway: one identity an operator authorizes with `portcullis upstreams authorize`. " +
          "user: each caller authorizes their own account (the error for a caller without a token carries a one-time `authorizeUrl`); needs `sharing: per-principal`. The catalogue is still read with the gateway identity.",
      ),
    allowPrivateNetwork: z
      .boolean()
      .default(false)
      .describe(
        'Let the OAuth client reach loopback and private addresses (RFC 1918, ULA, CGNAT), and plain http on them, during discovery, registration and token requests. ' +
          'For development and tests only. Link-local and cloud metadata addresses are always refused.',
      ),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (v.clientSecret && !v.clientId) ctx.addIssue({ code: 'custom', path: ['clientSecret'], message: 'clientSecret needs clientId (a pre-registered client)' });
    if (v.clientId && v.clientMetadataUrl) ctx.addIssue({ code: 'custom', path: ['clientMetadataUrl'], message: 'give either clientId (pre-registered) or clientMetadataUrl (CIMD), not both' });
  })
  .describe("OAuth authorization-code client of the upstream's authorization server.");

export type OAuthUpstreamAuth = z.infer<typeof OAuthUpstreamAuth>;
