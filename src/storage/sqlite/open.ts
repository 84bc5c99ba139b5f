/**
 * The embedded backend: one SQLite file, `<dataDir>/portcullis.db`, in WAL mode so readers never
 * wait for the writer, migrated to the latest schema before the Store is handed out.
 */
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import type { Logger } from '../../observability/logger.js';
import { GatewayError } from '../../pipeline/errors.js';
import { migrateToLatest } from '../migrations/index.js';
import type { Store } from '../ports.js';
import type { StorageDb } from '../sql/schema.js';
import { sqlStore } from '../sql/store.js';

/** The database file name inside the data directory. */
export const SQLITE_FILE = 'portcullis.db';

// Another process (a second gateway, a backup tool) may hold the write lock briefly; wait rather
// than fail. better-sqlite3 waits synchronously, so keep this short.
const BUSY_TIMEOUT_MS = 5000;

/** Options for `openSqliteStore`. */
export interface SqliteStoreOptions {
  /** Created (mode 0700) when missing; resolved against the process cwd when relative. */
  dataDir: string;
  logger?: Logger;
}

function openFile(file: string): Database.Database {
  const isNew = !existsSync(file);
  const sqlite = new Database(file, { timeout: BUSY_TIMEOUT_MS });
  try {
    // The store may hold upstream names and auth context labels: keep it private to the owner.
    if (isNew) chmodSync(file, 0o600);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('foreign_keys = ON');
    return sqlite;
  } catch (e) {
    sqlite.close();
    throw e;
  }
}

/** Opens (creating and migrating as needed) the SQLite store under `dataDir`. */
export async function openSqliteStore(opts: SqliteStoreOptions): Promise<Store> {
  const dir = resolve(opts.dataDir);
  const file = join(dir, SQLITE_FILE);
  let sqlite: Database.Database;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    sqlite = openFile(file);
  } catch (e) {
    throw new GatewayError('ERR_INTERNAL', 'storage: cannot open the SQLite store', { cause: e, detail: { file } });
  }
  const db = new Kysely<StorageDb>({ dialect: new SqliteDialect({ database: sqlite }) });
  try {
    const applied = await migrateToLatest(db as Kysely<unknown>, 'sqlite');
    opts.logger?.info({ file, applied }, applied.length ? 'storage: migrated SQLite store' : 'storage: opened SQLite store');
  } catch (e) {
    await db.destroy();
    throw e;
  }
  return sqlStore(db);
}
