/**
 * Shape rules for the principal fields that API keys and local users carry (tenant, roles,
 * virtual servers, display names). Checked when a credential is created, so every stored value
 * is safe to log and to use as a map key or metric label later.
 */
import { GatewayError } from '../../pipeline/errors.js';

// Same rule as config names (upstreams, virtual servers), so a tenant or server named in a key
// can always be named in config too. Linear: one character class, no nesting.
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_-]{0,31}$/;
const ROLE_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.:-]{0,63}$/;
// C0, DEL and C1 controls: they would corrupt terminal output and log lines.
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/;

/** Most roles one key or user may carry. */
export const MAX_ROLES = 32;
/** Most virtual servers one key may be limited to. */
export const MAX_VIRTUAL_SERVERS = 64;
/** Longest display name of a key, in UTF-16 code units. */
export const MAX_LABEL_LENGTH = 128;

function bad(message: string, detail?: Record<string, unknown>): GatewayError {
  return new GatewayError('ERR_BAD_INPUT', message, detail ? { detail } : undefined);
}

/** Returns `tenant` when it follows the name rule, else throws ERR_BAD_INPUT. */
export function checkTenant(tenant: string): string {
  if (typeof tenant !== 'string' || !NAME_RE.test(tenant)) throw bad('tenant must be letters, digits, "_" or "-", at most 32, starting with a letter or digit');
  return tenant;
}

/** Validates and de-duplicates roles (order kept); throws ERR_BAD_INPUT. */
export function checkRoles(roles: readonly string[]): string[] {
  if (!Array.isArray(roles) || roles.length > MAX_ROLES) throw bad(`at most ${MAX_ROLES} roles`);
  for (const r of roles) {
    if (typeof r !== 'string' || !ROLE_RE.test(r)) throw bad('a role must be letters, digits, "_", ".", ":" or "-", at most 64, starting with a letter or digit');
  }
  return [...new Set(roles)];
}

/** Validates and de-duplicates virtual-server names (order kept); throws ERR_BAD_INPUT. */
export function checkVirtualServers(names: readonly string[]): string[] {
  if (!Array.isArray(names) || names.length > MAX_VIRTUAL_SERVERS) throw bad(`at most ${MAX_VIRTUAL_SERVERS} virtual servers`);
  for (const n of names) {
    if (typeof n !== 'string' || !NAME_RE.test(n)) throw bad('a virtual server name must be letters, digits, "_" or "-", at most 32');
  }
  return [...new Set(names)];
}

/** Validates a human-readable label (e.g. a key's name): 1..128 characters, no control characters. */
export function checkLabel(label: string, field: string): string {
  if (typeof label !== 'string' || label.trim() === '' || label.length > MAX_LABEL_LENGTH || CONTROL_RE.test(label)) {
    throw bad(`${field} must be 1..${MAX_LABEL_LENGTH} characters without control characters`);
  }
  return label;
}
