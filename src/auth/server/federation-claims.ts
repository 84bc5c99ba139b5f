/**
 * Maps the claims a federation provider vouched for (ID token, optionally userinfo) onto a
 * gateway account: subject → `<name>:<sub>`, tenant, roles. Values are checked with the same rules
 * as local users; anything that does not fit refuses the sign-in (fail closed) instead of being
 * dropped or replaced by a default, so a deny rule keyed on a role or tenant cannot be dodged.
 */
import { GatewayError } from '../../pipeline/errors.js';
import { checkRoles, checkTenant } from '../keys/principal-fields.js';
import { federatedAccountId } from './federation-accounts.js';
import type { FederationEntry } from './federation-config.js';

/** Longest provider subject accepted (the account id adds `<name>:`). */
export const MAX_SUBJECT_LENGTH = 255;
const MAX_PATH_DEPTH = 5;
// C0, DEL and C1 controls: they would corrupt logs and audit records.
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/;

/** The account a sign-in maps to. */
export interface MappedAccount {
  accountId: string;
  tenant: string;
  roles: string[];
}

/** A claim by exact key first (URL-style names contain dots), then as a dotted path into nested objects. */
export function readClaim(claims: Readonly<Record<string, unknown>>, name: string): unknown {
  if (Object.hasOwn(claims, name)) return claims[name];
  const parts = name.split('.');
  if (parts.length < 2 || parts.length > MAX_PATH_DEPTH) return undefined;
  let cur: unknown = claims;
  for (const p of parts) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur) || !Object.hasOwn(cur, p)) return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

function refuse(message: string): GatewayError {
  return new GatewayError('ERR_UNAUTHENTICATED', message);
}

/** The configured claims that are absent from `claims` (the caller may look for them at userinfo). */
export function missingClaims(entry: FederationEntry, claims: Readonly<Record<string, unknown>>): string[] {
  const names = [entry.claims.subject, entry.claims.tenant, entry.claims.roles].filter((n): n is string => n !== undefined);
  return names.filter((n) => readClaim(claims, n) === undefined);
}

/** Maps verified claims onto an account; throws ERR_UNAUTHENTICATED (message safe to log) when they do not fit. */
export function mapFederatedClaims(entry: FederationEntry, claims: Readonly<Record<string, unknown>>): MappedAccount {
  const rawSub = readClaim(claims, entry.claims.subject);
  const sub = typeof rawSub === 'number' && Number.isSafeInteger(rawSub) ? String(rawSub) : rawSub;
  if (typeof sub !== 'string' || sub === '' || sub.length > MAX_SUBJECT_LENGTH || CONTROL_RE.test(sub)) {
    throw refuse(`claim "${entry.claims.subject}" is missing or not a usable subject`);
  }

  let tenant = entry.claims.tenantDefault;
  const rawTenant = entry.claims.tenant !== undefined ? readClaim(claims, entry.claims.tenant) : undefined;
  if (rawTenant !== undefined && rawTenant !== null) {
    if (typeof rawTenant !== 'string') throw refuse(`claim "${entry.claims.tenant}" is not a string`);
    try {
      tenant = checkTenant(rawTenant);
    } catch {
      throw refuse(`claim "${entry.claims.tenant}" is not a valid tenant name`);
    }
  }

  let roles: string[] = [];
  const rawRoles = entry.claims.roles !== undefined ? readClaim(claims, entry.claims.roles) : undefined;
  if (rawRoles !== undefined && rawRoles !== null) {
    const list = typeof rawRoles === 'string' ? rawRoles.split(' ').filter(Boolean) : rawRoles;
    if (!Array.isArray(list) || !list.every((r): r is string => typeof r === 'string')) throw refuse(`claim "${entry.claims.roles}" is not a list of strings`);
    try {
      roles = checkRoles(list);
    } catch {
      throw refuse(`claim "${entry.claims.roles}" holds a role the gateway cannot accept (or more than 32)`);
    }
  }

  return { accountId: federatedAccountId(entry.name, sub), tenant, roles };
}
