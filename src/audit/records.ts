/**
 * Record shapes and the helpers that build their fields. Every record is one canonical JSON
 * object (docs/audit.md): the writer adds `v`, `log`, `seq`, `ts`, `type` and `prev`; the
 * builders here add the event fields. Nothing here ever copies an argument or result value:
 * payloads are represented by their top-level key names, byte length and an HMAC under the
 * tenant's key.
 */
import { createHash } from 'node:crypto';

/** Event types the gateway writes. `admin.<action>` adds its own suffix. */
export type EventType =
  | 'authn.success'
  | 'authn.failure'
  | 'tool.list'
  | 'tool.call.decision'
  | 'tool.call.result'
  | 'tool.call.error'
  | 'tool.call.timeout'
  | 'tool.call.cancelled'
  | 'tool.call.outcome_unknown'
  | 'ratelimit.exceeded'
  | 'policy.changed'
  | 'config.changed'
  | `admin.${string}`
  | 'upstream.health'
  | 'audit.checkpoint'
  | 'audit.gap'
  | 'audit.recovery'
  | 'audit.key_rotated'
  | 'audit.retention';

/** Event fields: JSON values only (the writer canonicalises them). */
export type Fields = Record<string, unknown>;

/** Longest caller- or upstream-supplied string kept in a record (tool names, reasons, URIs). */
export const MAX_STRING = 256;
/** Most argument key names kept. */
export const MAX_KEYS = 64;

/** A bounded, well-formed string: caller text never makes a record unbounded or uncanonicalisable. */
export function bound(s: unknown, max = MAX_STRING): string {
  const t = typeof s === 'string' ? s : String(s);
  const w = (t.length > max ? t.slice(0, max) : t) as string & { isWellFormed(): boolean; toWellFormed(): string };
  return w.isWellFormed() ? w : w.toWellFormed();
}

/** Log id of a tenant's log: `t-<tenant>` (tenant ids are file-name safe; others are hashed). */
export function tenantLogId(tenant: string): string {
  if (/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/.test(tenant)) return `t-${tenant}`;
  return `t-x${createHash('sha256').update(tenant).digest('hex').slice(0, 24)}`;
}

export const SYSTEM_LOG = 'system';

/** The top-level key names of an object payload (bounded in count and length), else undefined. */
export function keyNames(value: unknown): string[] | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const keys: string[] = [];
  for (const k in value as Record<string, unknown>) {
    if (keys.length >= MAX_KEYS) break;
    keys.push(k.length <= 128 && (k as string & { isWellFormed(): boolean }).isWellFormed() ? k : bound(k, 128));
  }
  return keys;
}

/** SHA-256 (hex) of a set of names, sorted and newline-joined: the `tool.list` fingerprint. */
export function namesDigest(names: readonly string[]): string {
  return createHash('sha256').update([...names].sort().join('\n')).digest('hex');
}

/** Types whose record closes a `tool.call.decision`. */
export const OUTCOME_TYPES: ReadonlySet<string> = new Set([
  'tool.call.result',
  'tool.call.error',
  'tool.call.timeout',
  'tool.call.cancelled',
  'tool.call.outcome_unknown',
]);
