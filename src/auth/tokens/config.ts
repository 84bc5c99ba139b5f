/**
 * Trusted issuers: the authorization servers whose access tokens the gateway accepts as an
 * OAuth resource server. Each issuer is verified locally (JWT + JWKS) or remotely (RFC 7662
 * introspection, for opaque tokens). Every field is described: the config docs are generated
 * from this schema.
 */
import { z } from 'zod';
import { Duration } from '../../config/primitives.js';
import { SecretRef } from '../secrets/ref.js';

/** Signature algorithms an issuer may use. HMAC (HS*) and `none` are deliberately absent. */
export const JWS_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
/** One of JWS_ALGORITHMS. */
export type JwsAlgorithm = (typeof JWS_ALGORITHMS)[number];

/** Deepest claim path accepted, e.g. `realm_access.roles` has depth 2. */
export const MAX_CLAIM_PATH_DEPTH = 8;
// Segments that would walk into the prototype chain if a lookup ever used plain property access.
const FORBIDDEN_SEGMENTS = new Set(['__proto__', 'constructor', 'prototype']);
const SEGMENT_MAX = 256;

/** Splits a claim path (dotted string or explicit segment list) into its segments. */
export function claimPathSegments(path: ClaimPath): readonly string[] {
  return typeof path === 'string' ? path.split('.') : path;
}

function claimPathProblem(path: string | readonly string[]): string | undefined {
  const segs = typeof path === 'string' ? path.split('.') : path;
  if (segs.length === 0 || segs.length > MAX_CLAIM_PATH_DEPTH) return `claim path must have 1 to ${MAX_CLAIM_PATH_DEPTH} segments`;
  for (const s of segs) {
    if (s.length === 0 || s.length > SEGMENT_MAX) return 'claim path segments must be 1 to 256 characters';
    if (FORBIDDEN_SEGMENTS.has(s)) return `claim path segment "${s}" is not allowed`;
  }
  return undefined;
}

/**
 * Where a claim lives in the token: a dotted path (`realm_access.roles`) or, for claim names
 * that contain dots (`https://example.com/roles`), a list of segments.
 */
export const ClaimPath = z
  .union([z.string().max(2048), z.array(z.string()).min(1).max(MAX_CLAIM_PATH_DEPTH)])
  .superRefine((v, ctx) => {
    const problem = claimPathProblem(v);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .describe(
    'A claim path: dotted (`realm_access.roles`, at most 8 segments) or a list of segments for claim names containing dots (`["https://example.com/claims", "roles"]`). `__proto__`, `constructor` and `prototype` are refused.',
  );
/** A parsed claim path (dotted string or segment list). */
export type ClaimPath = z.infer<typeof ClaimPath>;

/** What a tenant id looks like, whether it comes from config or from a token. */
export const TENANT_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/;

const Claims = z
  .object({
    subject: ClaimPath.default('sub').describe('Claim holding the subject (a non-empty string of at most 256 characters).'),
    tenant: ClaimPath.optional().describe('Claim holding the tenant id; omitted: every principal of this issuer gets `tenantDefault`.'),
    tenantDefault: z
      .string()
      .regex(TENANT_PATTERN, 'letters, digits, "_", "." and "-", at most 64, starting with a letter or digit')
      .default('default')
      .describe('Tenant used when `tenant` is not configured or the token lacks that claim.'),
    roles: ClaimPath.optional().describe('Claim holding the roles (string or array of strings), e.g. `realm_access.roles`.'),
    groups: ClaimPath.optional().describe('Claim holding the groups (string or array of strings).'),
    clientId: ClaimPath.default('client_id').describe('Claim holding the OAuth client id; `azp` is used when this claim is absent.'),
    scope: ClaimPath.default('scope').describe('Claim holding the granted scopes: a space-separated string or an array of strings.'),
  })
  .strict()
  .describe('How token claims map onto the principal.');

/** What an `introspection.tokenPrefix` looks like: printable ASCII without spaces, 1 to 64 characters. */
export const TOKEN_PREFIX_PATTERN = /^[\x21-\x7e]{1,64}$/;

const Introspection = z
  .object({
    url: z.string().url().describe('RFC 7662 introspection endpoint of the issuer.'),
    clientId: z.string().min(1).max(256).describe("The gateway's client id at the introspection endpoint (client_secret_basic)."),
    clientSecret: SecretRef.describe("The gateway's client secret at the introspection endpoint."),
    cacheTtl: Duration.default('60s').describe('Longest time an active introspection answer is reused; also the cache lifetime of answers without `exp`.'),
    tokenPrefix: z
      .string()
      .regex(TOKEN_PREFIX_PATTERN, 'printable ASCII without spaces, 1 to 64 characters')
      .optional()
      .describe(
        'Opaque tokens starting with this prefix are introspected at this issuer only (e.g. `ory_at_`); needed when several issuers use introspection. At most one introspecting issuer may go without a prefix: it receives the opaque tokens no prefix matches. No prefix may be a prefix of another.',
      ),
  })
  .strict()
  .describe(
    'Verify opaque tokens by asking the issuer (RFC 7662). Used when the token is not a JWT of a JWKS issuer. An opaque token is sent to one issuer only: the one whose `tokenPrefix` it starts with, else the one introspecting issuer without a prefix; otherwise it is refused without being sent anywhere.',
  );

/** One reason a list of issuers cannot route opaque tokens to a single issuer, located in the list. */
export interface IntrospectionRoutingProblem {
  path: (string | number)[];
  message: string;
}

/**
 * Why opaque tokens could not each be sent to exactly one issuer (no token passthrough): more
 * than one introspecting issuer without `tokenPrefix`, or two prefixes one of which starts the
 * other (a token could match both). Empty when routing is unambiguous.
 */
export function introspectionRoutingProblems(
  list: readonly { name: string; introspection?: { tokenPrefix?: string | undefined } | undefined }[],
): IntrospectionRoutingProblem[] {
  const problems: IntrospectionRoutingProblem[] = [];
  const unprefixed: number[] = [];
  const prefixed: { idx: number; prefix: string }[] = [];
  list.forEach((i, idx) => {
    if (i.introspection === undefined) return;
    const prefix = i.introspection.tokenPrefix;
    if (prefix === undefined) unprefixed.push(idx);
    else prefixed.push({ idx, prefix });
  });
  if (unprefixed.length > 1) {
    const named = unprefixed.map((idx) => `[${idx}].introspection (${JSON.stringify(list[idx]!.name)})`).join(', ');
    problems.push({
      path: [],
      message: `several issuers introspect opaque tokens: ${named}: give each but one an introspection.tokenPrefix, so a token is only ever sent to its own issuer`,
    });
  }
  for (const [n, b] of prefixed.entries()) {
    const a = prefixed.slice(0, n).find((x) => x.prefix.startsWith(b.prefix) || b.prefix.startsWith(x.prefix));
    if (a === undefined) continue;
    problems.push({
      path: [b.idx, 'introspection', 'tokenPrefix'],
      message: `tokenPrefix ${JSON.stringify(b.prefix)} and [${a.idx}].introspection.tokenPrefix ${JSON.stringify(a.prefix)} (issuer ${JSON.stringify(list[a.idx]!.name)}) overlap: a token could match both; no prefix may start another`,
    });
  }
  return problems;
}

/** One authorization server whose access tokens the gateway accepts. */
export const TrustedIssuer = z
  .object({
    name: z
      .string()
      .regex(/^[a-zA-Z0-9][a-zA-Z0-9_-]{0,31}$/, 'letters, digits, "_" and "-", at most 32, starting with a letter or digit')
      .describe('Short id of the issuer, used in logs and as the principal\'s `issuer`.'),
    issuer: z
      .string()
      .min(1)
      .max(2048)
      .describe('The exact `iss` value of its tokens. Compared byte for byte: no trailing-slash or case normalisation.'),
    jwksUri: z.string().url().optional().describe('JWKS endpoint for verifying JWT access tokens locally. Optional when `introspection` is set.'),
    audiences: z
      .array(z.string().min(1).max(2048))
      .min(1)
      .max(32)
      .optional()
      .describe("Accepted `aud` values (any one must match). Omitted: the gateway's own canonical resource URIs."),
    algorithms: z
      .array(z.enum(JWS_ALGORITHMS))
      .min(1)
      .default(['RS256', 'ES256', 'PS256', 'EdDSA'])
      .describe('Accepted JWS algorithms. Symmetric (HS*) and `none` are never accepted.'),
    clockSkew: Duration.default('30s').describe('Tolerance for `exp`, `nbf` and `iat` against the gateway clock.'),
    requireTyp: z
      .string()
      .min(1)
      .max(128)
      .optional()
      .describe('Required JWT `typ` header, e.g. `at+jwt` (RFC 9068); compared as a media type.'),
    introspection: Introspection.optional(),
    claims: Claims.prefault({}),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (v.jwksUri === undefined && v.introspection === undefined) {
      ctx.addIssue({ code: 'custom', path: ['jwksUri'], message: 'either jwksUri or introspection is required' });
    }
    for (const [field, url] of [['jwksUri', v.jwksUri], ['introspection', v.introspection?.url]] as const) {
      if (url !== undefined && !/^https?:\/\//i.test(url)) ctx.addIssue({ code: 'custom', path: [field], message: 'must be an http(s) URL' });
    }
  })
  .describe('An authorization server whose access tokens are accepted.');

/** The list of trusted issuers: names and `iss` values must be unique, and opaque tokens must route to one issuer each. */
export const TrustedIssuers = z
  .array(TrustedIssuer)
  .max(64)
  .superRefine((list, ctx) => {
    const names = new Set<string>();
    const issuers = new Set<string>();
    list.forEach((i, idx) => {
      if (names.has(i.name)) ctx.addIssue({ code: 'custom', path: [idx, 'name'], message: `duplicate issuer name "${i.name}"` });
      if (issuers.has(i.issuer)) ctx.addIssue({ code: 'custom', path: [idx, 'issuer'], message: `duplicate issuer "${i.issuer}"` });
      names.add(i.name);
      issuers.add(i.issuer);
    });
    for (const p of introspectionRoutingProblems(list)) ctx.addIssue({ code: 'custom', path: p.path, message: p.message });
  })
  .describe(
    'Authorization servers whose access tokens the gateway accepts. When several use introspection, all but one need an `introspection.tokenPrefix`: an opaque token is only ever sent to its own issuer.',
  );

/** A parsed issuer (defaults applied). */
export type TrustedIssuerConfig = z.infer<typeof TrustedIssuer>;
/** What a person writes for one issuer (defaults not yet applied). */
export type TrustedIssuerInput = z.input<typeof TrustedIssuer>;
/** How claims map onto the principal, parsed. */
export type ClaimsMapping = TrustedIssuerConfig['claims'];
/** Introspection settings, parsed. */
export type IntrospectionConfig = NonNullable<TrustedIssuerConfig['introspection']>;
