/**
 * `auth.authorizationServer`: the gateway's built-in OAuth 2.1 authorization server (login and
 * consent pages, dynamic client registration, JWT access tokens for the gateway's own endpoints).
 */
import { z } from 'zod';
import { Duration } from '../../config/primitives.js';
import { parseDuration } from '../../config/units.js';
import { FederationEntry } from './federation-config.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** A Duration bounded to [min, max] milliseconds, with a readable message. */
function boundedDuration(min: number, max: number, text: string) {
  return Duration.refine(
    (v) => {
      try {
        const ms = parseDuration(v);
        return ms >= min && ms <= max;
      } catch {
        return false;
      }
    },
    { message: text },
  );
}

const ClientId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._~-]{0,127}$/, 'letters, digits, ".", "_", "~" and "-", at most 128');

export const StaticClient = z
  .object({
    clientId: ClientId.describe('The `client_id` the client sends. A public client: no secret, PKCE S256 required.'),
    redirectUris: z
      .array(z.string().url().max(2048))
      .min(1)
      .max(10)
      .describe('Exact redirect URIs (compared character by character). Loopback `http://127.0.0.1:<port>/…` for native clients, else https.'),
    name: z.string().min(1).max(100).describe('Shown on the consent page.'),
  })
  .strict();

export const AuthorizationServerConfig = z
  .object({
    enabled: z.boolean().default(false).describe('Run the built-in authorization server on the gateway origin (issuer = the gateway base URL).'),
    accessTokenTtl: boundedDuration(2 * MINUTE, DAY, 'between 2m and 1d (mcp-remote refreshes before every request when tokens live 60 s or less)')
      .default('10m')
      .describe('Lifetime of issued access tokens (JWT). At least 2m: clients refresh tokens that expire within 60 s before every request.'),
    refreshTokenTtl: boundedDuration(HOUR, 365 * DAY, 'between 1h and 365d')
      .default('30d')
      .describe('Absolute lifetime of a refresh token family from the first sign-in; every refresh rotates the token, and reusing a rotated one revokes the family.'),
    registration: z
      .object({
        enabled: z.boolean().default(true).describe('Open dynamic client registration (RFC 7591) for public clients (`token_endpoint_auth_method: none`).'),
      })
      .strict()
      .prefault({})
      .describe('Dynamic client registration.'),
    clientIdMetadataDocuments: z
      .object({
        enabled: z.boolean().default(false).describe('Accept https URLs as `client_id` and fetch the client metadata from them (draft-ietf-oauth-client-id-metadata-document-02, experimental).'),
        allowLoopback: z
          .boolean()
          .default(false)
          .describe('Also fetch metadata documents from loopback addresses (development only). Private, link-local and other special-use addresses are always refused.'),
      })
      .strict()
      .prefault({})
      .describe('Client ID Metadata Documents (CIMD). Fetches are https only, 2.5 s, at most 5 KB, no redirects.'),
    staticClients: z.array(StaticClient).max(100).default([]).describe('Pre-registered public clients, for deployments that turn dynamic registration off.'),
    signingKeyRotation: boundedDuration(HOUR, 365 * DAY, 'between 1h and 365d')
      .default('30d')
      .describe('Age at which the token signing key is replaced; the previous key stays published in the JWKS until tokens it signed have expired.'),
    federation: z
      .array(FederationEntry)
      .max(8)
      .superRefine((list, ctx) => {
        const seen = new Set<string>();
        list.forEach((e, i) => {
          if (seen.has(e.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `federation name "${e.name}" is used twice` });
          seen.add(e.name);
        });
      })
      .optional()
      .describe(
        'External OpenID Connect providers users may sign in with, next to local accounts ("Sign in with <displayName>"). ' +
          'A federated user is the account `<name>:<sub>`; its tenant and roles come from the ID token at each sign-in and are kept in memory ' +
          '(a restart, or more than 10,000 federated users, means signing in again). Register `<gateway base URL>/interaction/callback/federated` as the redirect URI at each provider.',
      ),
  })
  .strict()
  .describe('The built-in OAuth 2.1 authorization server (authorization code + PKCE S256, RFC 8707 resources, RFC 7591 registration).');

export type AuthorizationServerConfig = z.infer<typeof AuthorizationServerConfig>;
export type StaticClient = z.infer<typeof StaticClient>;
export type { FederationEntry } from './federation-config.js';
