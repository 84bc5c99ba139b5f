/**
 * Control-plane events for the system log: config reloads, policy changes, upstream health,
 * admin actions. Small adapters so the composition root and the admin routes stay one line each.
 */
import { createHash } from 'node:crypto';
import type { Snapshot } from '../config/compile.js';
import { canonicalJson } from '../config/compile.js';
import type { AuditService } from './service.js';
import { bound } from './records.js';

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

/**
 * `config.changed` (names of the top-level sections that changed and a SHA-256 of the whole
 * config, never its values: it can hold interpolated secrets) and, when the `policy` section
 * changed, `policy.changed` with source `config`.
 */
export function auditConfigSwap(audit: AuditService, next: Snapshot, previous: Snapshot): void {
  if (!audit.enabled) return;
  const a = next.config as unknown as Record<string, unknown>;
  const b = previous.config as unknown as Record<string, unknown>;
  const sections = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => canonicalJson(a[k]) !== canonicalJson(b[k])).sort();
  audit.appendSystem('config.changed', { version: next.version, previous_version: previous.version, sections, config_sha256: sha(canonicalJson(a)) });
  if (sections.includes('policy')) audit.appendSystem('policy.changed', { source: 'config', version: next.version, policy_sha256: sha(canonicalJson(a.policy)) });
}

/** `policy.changed` from the policy store (admin API or CLI): in the tenant's log, or the system log for all tenants. */
export function auditPolicyChange(audit: AuditService, tenant: string | undefined): void {
  if (!audit.enabled) return;
  if (tenant === undefined) audit.appendSystem('policy.changed', { source: 'store' });
  else audit.appendTenant(tenant, 'policy.changed', { source: 'store', tenant: bound(tenant) }, false);
}

/** `upstream.health` in the system log. */
export function auditUpstreamHealth(audit: AuditService, upstream: string, health: string, reason: string): void {
  audit.appendSystem('upstream.health', { upstream: bound(upstream, 64), health, reason: bound(reason) });
}

/** `admin.<action>` in the system log, with who did it; targets are ids and names, never secrets. */
export function auditAdmin(audit: AuditService | undefined, action: string, p: { subject: string; tenant: string; authMethod: string }, target: Record<string, unknown>): void {
  if (!audit?.enabled) return;
  audit.appendSystem(`admin.${action}`, { actor: { sub: bound(p.subject), tenant: bound(p.tenant), authn: p.authMethod }, target });
}

/** Adds `audit: {status, reason}` to the /readyz body; a degraded audit log makes the gateway degraded. */
export function withAuditHealth(r: { ready: boolean; body: Record<string, unknown> }, audit: AuditService, guarded: boolean): { ready: boolean; body: Record<string, unknown> } {
  const h = audit.health();
  const body: Record<string, unknown> = { ...r.body, audit: guarded && h.reason !== undefined ? { status: h.status } : h };
  if (h.status === 'degraded' && body.status === 'ready') body.status = 'degraded';
  return { ready: r.ready, body };
}
