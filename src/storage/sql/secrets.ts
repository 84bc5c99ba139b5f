/** SecretStore over any Kysely dialect whose schema came from src/storage/migrations. */
import { sql, type Kysely, type Selectable } from 'kysely';
import type { SecretRecord, SecretStore } from '../ports.js';
import { fromIso, toIso, type Lifecycle } from '../values.js';
import type { SecretsTable, StorageDb } from './schema.js';

const fromRow = (r: Selectable<SecretsTable>): SecretRecord => ({
  name: r.name,
  keyId: r.key_id,
  sealed: r.sealed,
  updatedAt: fromIso(r.updated_at, 'updated_at'),
});

/** SQL-backed sealed-secret table; upserts with ON CONFLICT so parallel puts of one name cannot collide. */
export class SqlSecretStore implements SecretStore {
  constructor(
    private readonly db: Kysely<StorageDb>,
    private readonly life: Lifecycle,
  ) {}

  async put(s: SecretRecord): Promise<void> {
    this.life.assertOpen();
    const fields = { key_id: s.keyId, sealed: s.sealed, updated_at: toIso(s.updatedAt, 'updatedAt') };
    await this.db
      .insertInto('secrets')
      .values({ name: s.name, ...fields })
      .onConflict((oc) => oc.column('name').doUpdateSet(fields))
      .execute();
  }

  async get(name: string): Promise<SecretRecord | undefined> {
    this.life.assertOpen();
    const row = await this.db.selectFrom('secrets').selectAll().where('name', '=', name).executeTakeFirst();
    return row ? fromRow(row) : undefined;
  }

  async list(prefix?: string): Promise<SecretRecord[]> {
    this.life.assertOpen();
    let q = this.db.selectFrom('secrets').selectAll();
    if (prefix !== undefined && prefix !== '') {
      // Not LIKE: SQLite's LIKE ignores ASCII case and both treat `%`/`_` as wildcards. substr
      // counts code points on both dialects, hence the spread rather than `.length`.
      q = q.where(sql<string>`substr(name, 1, ${[...prefix].length})`, '=', prefix);
    }
    const rows = await q.execute();
    // The startsWith check guards against a dialect counting characters differently.
    return rows
      .filter((r) => prefix === undefined || r.name.startsWith(prefix))
      .map(fromRow)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async delete(name: string): Promise<boolean> {
    this.life.assertOpen();
    const res = await this.db.deleteFrom('secrets').where('name', '=', name).executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }
}
