/**
 * Schema migrations, in code so they ship inside the build. The same ordered list serves every
 * SQL dialect; Kysely's Migrator records applied ones in its `kysely_migration` table, so running
 * it again on an up-to-date database does nothing.
 */
import { Migrator, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { GatewayError } from '../../pipeline/errors.js';
import { initial } from './001_initial.js';
import { identity } from './002_identity.js';
import { oauthState } from './003_oauth_state.js';
import { policyRules } from './004_policy_rules.js';

/** SQL dialects the migrations know how to target. */
export type SqlDialectName = 'sqlite' | 'postgres';

/** Every migration by name; names sort in the order they must run. */
export function migrationsFor(dialect: SqlDialectName): Record<string, Migration> {
  return {
    '001_initial': initial(dialect),
    '002_identity': identity(dialect),
    '003_oauth_state': oauthState(dialect),
    '004_policy_rules': policyRules(dialect),
  };
}

/** A Kysely MigrationProvider serving the in-code list for one dialect. */
export function createMigrationProvider(dialect: SqlDialectName): MigrationProvider {
  return { getMigrations: async () => migrationsFor(dialect) };
}

/**
 * Brings `db` to the latest schema and resolves to the names of the migrations it applied
 * (empty when already up to date). A failure is ERR_INTERNAL with the migrator's error as cause.
 */
export async function migrateToLatest(db: Kysely<unknown>, dialect: SqlDialectName): Promise<string[]> {
  const migrator = new Migrator({ db, provider: createMigrationProvider(dialect) });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw new GatewayError('ERR_INTERNAL', `storage: migration ${failed ?? '(setup)'} failed`, { cause: error });
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
