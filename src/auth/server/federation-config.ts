/**
 * `auth.authorizationServer.federation[]`: one external OpenID Connect provider users may sign in
 * with at the built-in authorization server. The issuer must be https, except on a loopback
 * address when `allowInsecureLoopback` says so (tests and local IdPs).
 */
import { z } from 'zod';
import { SecretRef } from '../secrets/ref.js';

// Anchored single character classes: linear on any input.
const NAME_RE = /^[a-z0-9][a-z0-9_-]{0,31}$/;
const TENANT_RE = /^[a-zA-Z0-9][a-zA-Z0-9_-]{0,31}$/;
// RFC 6749 scope-token: printable ASCII without space, `"` and `\`.
const SCOPE_RE = /^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/;
// C0, DEL and C1 controls.
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/;

/** True for `localhost` and literal loopback addresses (127.0.0.0/8, ::1), as URL.hostname gives them. */
export function isLoopbackHostname(hostname: string): boolean {
  const h = hostname.toLowerCase();
  if (h === 'localhost' || h === '[::1]' || h === '::1') return true;
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  return m !== null && m.slice(1).every((o) => Number(o) <= 255);
}

const ClaimName = z
  .string()
  .min(1)
  .max(256)
  .refine((s) => !CONTROL_RE.test(s), 'no control characters');

export const FederationClaims = z
  .object({
    subject: ClaimName.default('sub').describe('ID token claim that identifies the user at the provider; the account becomes `<name>:<value>`.'),
    tenant: ClaimName.optional().describe(
      'ID token claim holding the tenant (tried as a key first, then as a dotted path such as `org.tenant`). A value that breaks the tenant name rule refuses the sign-in.',
    ),
    tenantDefault: z
      .string()
      .regex(TENANT_RE, 'letters, digits, "_" or "-", at most 32, starting with a letter or digit')
      .default('default')
      .describe('Tenant of users whose ID token lacks the `tenant` claim (or when `tenant` is not set).'),
    roles: ClaimName.optional().describe(
      'ID token claim holding the roles: an array of strings or one space-separated string (key first, then dotted path such as `realm_access.roles`). Absent claim: no roles; an invalid role refuses the sign-in.',
    ),
  })
  .strict()
  .describe('How ID token claims map onto the account (subject, tenant, roles). Claims missing from the ID token are looked up at the userinfo endpoint when the provider has one.');

export const FederationEntry = z
  .object({
    name: z
      .string()
      .regex(NAME_RE, 'lower-case letters, digits, "_" and "-", at most 32, starting with a letter or digit')
      .describe('Short id of the provider: the account prefix (`<name>:<sub>`), the button id (`federated-<name>`) and the path `/interaction/<uid>/federated/<name>`.'),
    displayName: z
      .string()
      .min(1)
      .max(64)
      .refine((s) => !CONTROL_RE.test(s) && s.trim() !== '', 'printable text')
      .describe('Shown on the login page as "Sign in with <displayName>".'),
    issuer: z
      .string()
      .max(2048)
      .describe('Issuer identifier of the provider, exactly as its discovery document states it (`<issuer>/.well-known/openid-configuration` is fetched). https, or http on a loopback address with `allowInsecureLoopback`.'),
    clientId: z.string().min(1).max(256).describe('The client id the gateway has at the provider.'),
    clientSecret: SecretRef.optional().describe(
      'Client secret at the provider (`client_secret_basic`, or `client_secret_post` when the provider supports only that). Absent: a public client; PKCE S256 is used either way.',
    ),
    scopes: z
      .array(z.string().regex(SCOPE_RE, 'a scope token (printable ASCII, no spaces or quotes)'))
      .min(1)
      .max(20)
      .refine((s) => s.includes('openid'), 'must include "openid" (the sign-in needs an ID token)')
      .default(['openid', 'email', 'profile'])
      .describe('Scopes requested at the provider; must include `openid`.'),
    claims: FederationClaims.prefault({}).describe('How ID token claims map onto the account (subject, tenant, roles).'),
    allowInsecureLoopback: z
      .boolean()
      .default(false)
      .describe('Allow an issuer on a loopback address (127.0.0.1, ::1, localhost), over plain http too. For tests and local providers only.'),
  })
  .strict()
  .superRefine((e, ctx) => {
    let u: URL;
    try {
      u = new URL(e.issuer);
    } catch {
      ctx.addIssue({ code: 'custom', path: ['issuer'], message: 'issuer must be an absolute URL' });
      return;
    }
    const issue = (message: string): void => void ctx.addIssue({ code: 'custom', path: ['issuer'], message });
    if (u.protocol !== 'https:' && u.protocol !== 'http:') return issue('issuer must be an https URL');
    if (u.username !== '' || u.password !== '') return issue('issuer must not carry credentials');
    if (u.search !== '' || u.hash !== '' || e.issuer.includes('?') || e.issuer.includes('#')) return issue('issuer must not have a query or fragment');
    const loopback = isLoopbackHostname(u.hostname);
    if (u.protocol === 'http:' && !loopback) return issue(`issuer ${e.issuer} uses plain http: only https is allowed (http only on a loopback address with allowInsecureLoopback: true)`);
    if (loopback && !e.allowInsecureLoopback) return issue(`issuer ${e.issuer} is a loopback address: set allowInsecureLoopback: true to allow it (tests and local providers only)`);
  })
  .describe('One external OpenID Connect provider.');

export type FederationEntry = z.infer<typeof FederationEntry>;
