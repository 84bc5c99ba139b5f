/** In-memory ApiKeyStore: one map by id; `list` sorts on demand (admin path, not the hot path). */
import { GatewayError } from '../../pipeline/errors.js';
import type { ApiKeyRecord, ApiKeyStore } from '../ports.js';
import { toMs, type Lifecycle } from '../values.js';

interface Row {
  id: string;
  name: string;
  tenant: string;
  roles: string[];
  virtualServers: string[];
  hash: string;
  createdAtMs: number;
  expiresAtMs: number | undefined;
  revokedAtMs: number | undefined;
  lastUsedAtMs: number | undefined;
}

function copyOut(r: Row): ApiKeyRecord {
  const k: ApiKeyRecord = {
    id: r.id,
    name: r.name,
    tenant: r.tenant,
    roles: [...r.roles],
    virtualServers: [...r.virtualServers],
    hash: r.hash,
    createdAt: new Date(r.createdAtMs),
  };
  if (r.expiresAtMs !== undefined) k.expiresAt = new Date(r.expiresAtMs);
  if (r.revokedAtMs !== undefined) k.revokedAt = new Date(r.revokedAtMs);
  if (r.lastUsedAtMs !== undefined) k.lastUsedAt = new Date(r.lastUsedAtMs);
  return k;
}

const optMs = (d: Date | undefined, field: string): number | undefined => (d === undefined ? undefined : toMs(d, field));

/** Volatile key table; behaves exactly as the SQL backends do. */
export class MemoryApiKeyStore implements ApiKeyStore {
  readonly #byId = new Map<string, Row>();

  constructor(private readonly life: Lifecycle) {}

  async create(k: ApiKeyRecord): Promise<void> {
    this.life.assertOpen();
    // Validate every date before touching the map, so a bad record leaves nothing behind.
    const row: Row = {
      id: k.id,
      name: k.name,
      tenant: k.tenant,
      roles: [...k.roles],
      virtualServers: [...k.virtualServers],
      hash: k.hash,
      createdAtMs: toMs(k.createdAt, 'createdAt'),
      expiresAtMs: optMs(k.expiresAt, 'expiresAt'),
      revokedAtMs: optMs(k.revokedAt, 'revokedAt'),
      lastUsedAtMs: optMs(k.lastUsedAt, 'lastUsedAt'),
    };
    if (this.#byId.has(k.id)) throw new GatewayError('ERR_CONFLICT', 'storage: an API key with this id exists', { detail: { id: k.id } });
    this.#byId.set(k.id, row);
  }

  async get(id: string): Promise<ApiKeyRecord | undefined> {
    this.life.assertOpen();
    const row = this.#byId.get(id);
    return row ? copyOut(row) : undefined;
  }

  async list(tenant?: string): Promise<ApiKeyRecord[]> {
    this.life.assertOpen();
    const rows = [...this.#byId.values()].filter((r) => tenant === undefined || r.tenant === tenant);
    rows.sort((a, b) => a.createdAtMs - b.createdAtMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return rows.map(copyOut);
  }

  async revoke(id: string, at: Date): Promise<boolean> {
    this.life.assertOpen();
    const atMs = toMs(at, 'at');
    const row = this.#byId.get(id);
    if (!row) return false;
    row.revokedAtMs ??= atMs;
    return true;
  }

  async touch(id: string, at: Date): Promise<void> {
    this.life.assertOpen();
    const atMs = toMs(at, 'at');
    const row = this.#byId.get(id);
    if (row && (row.lastUsedAtMs === undefined || row.lastUsedAtMs < atMs)) row.lastUsedAtMs = atMs;
  }
}
