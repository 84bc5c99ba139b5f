/** ApiKeyStore over any Kysely dialect whose schema came from src/storage/migrations. */
import type { Kysely, Selectable } from 'kysely';
import { GatewayError } from '../../pipeline/errors.js';
import type { ApiKeyRecord, ApiKeyStore } from '../ports.js';
import { fromIso, toIso, type Lifecycle } from '../values.js';
import type { ApiKeysTable, StorageDb } from './schema.js';

/** Parses a JSON text column that must hold an array of strings; anything else is corruption. */
export function parseStringArray(text: string, field: string): string[] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    v = undefined;
  }
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) {
    throw new GatewayError('ERR_INTERNAL', `storage: stored ${field} is not a JSON array of strings`);
  }
  return v as string[];
}

const optIso = (d: Date | undefined, field: string): string | null => (d === undefined ? null : toIso(d, field));

function fromRow(r: Selectable<ApiKeysTable>): ApiKeyRecord {
  const k: ApiKeyRecord = {
    id: r.id,
    name: r.name,
    tenant: r.tenant,
    roles: parseStringArray(r.roles, 'roles'),
    virtualServers: parseStringArray(r.virtual_servers, 'virtual_servers'),
    hash: r.hash,
    createdAt: fromIso(r.created_at, 'created_at'),
  };
  if (r.expires_at !== null) k.expiresAt = fromIso(r.expires_at, 'expires_at');
  if (r.revoked_at !== null) k.revokedAt = fromIso(r.revoked_at, 'revoked_at');
  if (r.last_used_at !== null) k.lastUsedAt = fromIso(r.last_used_at, 'last_used_at');
  return k;
}

/** SQL-backed key table. Conditional updates do the "first revoke wins" and "never backwards" rules in one statement each. */
export class SqlApiKeyStore implements ApiKeyStore {
  constructor(
    private readonly db: Kysely<StorageDb>,
    private readonly life: Lifecycle,
  ) {}

  async create(k: ApiKeyRecord): Promise<void> {
    this.life.assertOpen();
    const row = {
      id: k.id,
      name: k.name,
      tenant: k.tenant,
      roles: JSON.stringify([...k.roles]),
      virtual_servers: JSON.stringify([...k.virtualServers]),
      hash: k.hash,
      created_at: toIso(k.createdAt, 'createdAt'),
      expires_at: optIso(k.expiresAt, 'expiresAt'),
      revoked_at: optIso(k.revokedAt, 'revokedAt'),
      last_used_at: optIso(k.lastUsedAt, 'lastUsedAt'),
    };
    // ON CONFLICT DO NOTHING instead of catching the driver's unique-violation error: the row
    // count is the same signal on every dialect, without parsing driver-specific error codes.
    const res = await this.db
      .insertInto('api_keys')
      .values(row)
      .onConflict((oc) => oc.column('id').doNothing())
      .executeTakeFirst();
    if (Number(res.numInsertedOrUpdatedRows ?? 0n) === 0) {
      throw new GatewayError('ERR_CONFLICT', 'storage: an API key with this id exists', { detail: { id: k.id } });
    }
  }

  async get(id: string): Promise<ApiKeyRecord | undefined> {
    this.life.assertOpen();
    const row = await this.db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? fromRow(row) : undefined;
  }

  async list(tenant?: string): Promise<ApiKeyRecord[]> {
    this.life.assertOpen();
    let q = this.db.selectFrom('api_keys').selectAll();
    if (tenant !== undefined) q = q.where('tenant', '=', tenant);
    const rows = await q.execute();
    // Sorted here, not in SQL: collations differ between SQLite and PostgreSQL locales.
    return rows
      .map(fromRow)
      .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async revoke(id: string, at: Date): Promise<boolean> {
    this.life.assertOpen();
    const atIso = toIso(at, 'at');
    const res = await this.db
      .updateTable('api_keys')
      .set((eb) => ({ revoked_at: eb.fn.coalesce('revoked_at', eb.val(atIso)) }))
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  async touch(id: string, at: Date): Promise<void> {
    this.life.assertOpen();
    const atIso = toIso(at, 'at');
    await this.db
      .updateTable('api_keys')
      .set({ last_used_at: atIso })
      .where('id', '=', id)
      .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', atIso)]))
      .execute();
  }
}
