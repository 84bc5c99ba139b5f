/**
 * Turns verified token claims into a Principal. The issuer vouched for the claims, but their
 * shapes are still checked: a principal feeds policies, logs and audit records, so anything
 * oversized or of the wrong type rejects the token (reason `claims`) instead of being coerced.
 */
import type { Principal } from '../../pipeline/context.js';
import { claimPathSegments, TENANT_PATTERN, type ClaimPath, type TrustedIssuerConfig } from './config.js';
import { invalidToken } from './errors.js';

/** Bounds on identity claims; beyond them the token is refused. */
export const CLAIM_LIMITS = {
  /** Longest subject, client id, role, group or scope. */
  maxString: 256,
  /** Most roles, groups or scopes. */
  maxEntries: 256,
} as const;

// C0 and C1 controls have no business in identifiers and would reach log and audit lines.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** The principal a token describes, with its scopes. */
export interface MappedClaims {
  principal: Principal;
  scopes: string[];
}

/** Reads a claim by path, following own properties of plain objects only. */
export function readClaim(claims: Record<string, unknown>, path: ClaimPath): unknown {
  let cur: unknown = claims;
  for (const seg of claimPathSegments(path)) {
    if (typeof cur !== 'object' || cur === null || Array.isArray(cur)) return undefined;
    if (!Object.hasOwn(cur, seg)) return undefined;
    cur = (cur as Record<string, unknown>)[seg];
  }
  return cur;
}

/**
 * Maps claims that an issuer has vouched for onto a Principal (authMethod `oauth`).
 * @throws GatewayError ERR_INVALID_TOKEN, reason `claims`, naming the offending field in `detail.claim`.
 */
export function mapClaims(claims: Record<string, unknown>, issuer: TrustedIssuerConfig): MappedClaims {
  const m = issuer.claims;
  const subject = readClaim(claims, m.subject);
  if (!isIdentifier(subject)) throw invalidToken('claims', { claim: 'subject' });

  let tenant = m.tenantDefault;
  if (m.tenant !== undefined) {
    const t = readClaim(claims, m.tenant);
    if (t !== undefined && t !== null) {
      if (typeof t !== 'string' || !TENANT_PATTERN.test(t)) throw invalidToken('claims', { claim: 'tenant' });
      tenant = t;
    }
  }

  const roles = m.roles === undefined ? [] : stringList(readClaim(claims, m.roles), 'roles', false);
  const groups = m.groups === undefined ? [] : stringList(readClaim(claims, m.groups), 'groups', false);
  const scopes = stringList(readClaim(claims, m.scope), 'scope', true);

  let clientId = readClaim(claims, m.clientId);
  if (clientId === undefined || clientId === null) clientId = readClaim(claims, 'azp');
  if (clientId !== undefined && clientId !== null && !isIdentifier(clientId)) throw invalidToken('claims', { claim: 'clientId' });

  const principal: Principal = Object.freeze({
    subject,
    tenant,
    roles: Object.freeze(roles),
    groups: Object.freeze(groups),
    ...(typeof clientId === 'string' ? { clientId } : {}),
    authMethod: 'oauth' as const,
    issuer: issuer.name,
    scopes: Object.freeze([...scopes]),
    claims: policyClaims(claims),
  });
  return { principal, scopes };
}

/** Claims never copied for policy: they are about the token, not the caller, or hold credentials. */
const NOT_FOR_POLICY = new Set(['iss', 'aud', 'exp', 'nbf', 'iat', 'jti', 'cnf', 'at_hash', 'c_hash', 'nonce', 'sid', 'active', 'token_type']);
const MAX_POLICY_CLAIMS = 32;

/**
 * A bounded copy of the token's scalar top-level claims (and short string lists), which policy
 * rules match with `claims:` and CEL reads as `principal.claims`. Nested objects are left out.
 */
function policyClaims(claims: Record<string, unknown>): Readonly<Record<string, string | number | boolean | readonly string[]>> {
  const out: Record<string, string | number | boolean | readonly string[]> = {};
  let n = 0;
  for (const [k, v] of Object.entries(claims)) {
    if (n >= MAX_POLICY_CLAIMS) break;
    if (NOT_FOR_POLICY.has(k) || k.length > 64) continue;
    if (typeof v === 'string' ? v.length <= CLAIM_LIMITS.maxString && !CONTROL.test(v) : typeof v === 'number' ? Number.isFinite(v) : typeof v === 'boolean') {
      out[k] = v as string | number | boolean;
      n++;
    } else if (Array.isArray(v) && v.length <= 32 && v.every((x) => typeof x === 'string' && x.length <= CLAIM_LIMITS.maxString && !CONTROL.test(x))) {
      out[k] = Object.freeze([...(v as string[])]);
      n++;
    }
  }
  return Object.freeze(out);
}

function isIdentifier(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= CLAIM_LIMITS.maxString && !CONTROL.test(v);
}

/**
 * A list of strings from a claim: absent → [], a string → [it] (or its space-separated words for
 * `scope`), an array → its members. Duplicates are dropped; anything else rejects the token.
 */
function stringList(v: unknown, claim: string, spaceSeparated: boolean): string[] {
  if (v === undefined || v === null) return [];
  let items: unknown[];
  if (typeof v === 'string') {
    if (spaceSeparated) {
      if (v.length > CLAIM_LIMITS.maxEntries * (CLAIM_LIMITS.maxString + 1)) throw invalidToken('claims', { claim });
      items = v.split(' ').filter((s) => s.length > 0);
    } else {
      items = [v];
    }
  } else if (Array.isArray(v)) {
    items = v;
  } else {
    throw invalidToken('claims', { claim });
  }
  if (items.length > CLAIM_LIMITS.maxEntries) throw invalidToken('claims', { claim });
  const out = new Set<string>();
  for (const item of items) {
    if (!isIdentifier(item)) throw invalidToken('claims', { claim });
    out.add(item);
  }
  return [...out];
}
