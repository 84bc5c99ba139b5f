/** UserStore over any Kysely dialect whose schema came from src/storage/migrations. */
import type { Kysely, Selectable } from 'kysely';
import { GatewayError } from '../../pipeline/errors.js';
import type { UserRecord, UserStore } from '../ports.js';
import { fromIso, toIso, type Lifecycle } from '../values.js';
import { parseStringArray } from './api-keys.js';
import type { StorageDb, UsersTable } from './schema.js';

function fromRow(r: Selectable<UsersTable>): UserRecord {
  // PostgreSQL drivers may hand integers back as strings; SQLite as numbers.
  const disabled = Number(r.disabled);
  if (disabled !== 0 && disabled !== 1) throw new GatewayError('ERR_INTERNAL', 'storage: bad stored disabled flag');
  return {
    username: r.username,
    tenant: r.tenant,
    roles: parseStringArray(r.roles, 'roles'),
    passwordHash: r.password_hash,
    createdAt: fromIso(r.created_at, 'created_at'),
    disabled: disabled === 1,
  };
}

/** SQL-backed user table. */
export class SqlUserStore implements UserStore {
  constructor(
    private readonly db: Kysely<StorageDb>,
    private readonly life: Lifecycle,
  ) {}

  async create(u: UserRecord): Promise<void> {
    this.life.assertOpen();
    const row = {
      username: u.username,
      tenant: u.tenant,
      roles: JSON.stringify([...u.roles]),
      password_hash: u.passwordHash,
      created_at: toIso(u.createdAt, 'createdAt'),
      disabled: u.disabled === true ? 1 : 0,
    };
    const res = await this.db
      .insertInto('users')
      .values(row)
      .onConflict((oc) => oc.column('username').doNothing())
      .executeTakeFirst();
    if (Number(res.numInsertedOrUpdatedRows ?? 0n) === 0) {
      throw new GatewayError('ERR_CONFLICT', 'storage: a user with this username exists', { detail: { username: u.username } });
    }
  }

  async get(username: string): Promise<UserRecord | undefined> {
    this.life.assertOpen();
    const row = await this.db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
    return row ? fromRow(row) : undefined;
  }

  async list(): Promise<UserRecord[]> {
    this.life.assertOpen();
    const rows = await this.db.selectFrom('users').selectAll().execute();
    // Sorted here, not in SQL: collations differ between SQLite and PostgreSQL locales.
    return rows.map(fromRow).sort((a, b) => (a.username < b.username ? -1 : a.username > b.username ? 1 : 0));
  }

  async update(u: UserRecord): Promise<boolean> {
    this.life.assertOpen();
    const res = await this.db
      .updateTable('users')
      .set({ tenant: u.tenant, roles: JSON.stringify([...u.roles]), password_hash: u.passwordHash, disabled: u.disabled === true ? 1 : 0 })
      .where('username', '=', u.username)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  async delete(username: string): Promise<boolean> {
    this.life.assertOpen();
    const res = await this.db.deleteFrom('users').where('username', '=', username).executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }
}
