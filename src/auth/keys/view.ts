/** How an API key is shown to people (CLI, admin API): every field except its hash. */
import type { ApiKeyRecord } from '../../storage/ports.js';

export function keyStatus(k: ApiKeyRecord, now: Date): 'active' | 'revoked' | 'expired' {
  if (k.revokedAt) return 'revoked';
  if (k.expiresAt && k.expiresAt.getTime() <= now.getTime()) return 'expired';
  return 'active';
}

export function publicKeyView(k: ApiKeyRecord, now: Date): Record<string, unknown> {
  return {
    id: k.id,
    name: k.name,
    tenant: k.tenant,
    roles: k.roles,
    virtualServers: k.virtualServers,
    status: keyStatus(k, now),
    createdAt: k.createdAt.toISOString(),
    expiresAt: k.expiresAt?.toISOString() ?? null,
    revokedAt: k.revokedAt?.toISOString() ?? null,
    lastUsedAt: k.lastUsedAt?.toISOString() ?? null,
  };
}
