/** 001_initial: era verdict cache and upstream health history. */
import type { Kysely, Migration } from 'kysely';
import type { SqlDialectName } from './index.js';

/** Builds the migration for one dialect; only the auto-numbered id column differs between them. */
export function initial(dialect: SqlDialectName): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('era_verdicts')
        .addColumn('upstream', 'text', (c) => c.notNull())
        .addColumn('auth_context', 'text', (c) => c.notNull())
        .addColumn('transport', 'text', (c) => c.notNull())
        .addColumn('era', 'text', (c) => c.notNull())
        .addColumn('protocol_version', 'text', (c) => c.notNull())
        .addColumn('probed_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('era_verdicts_pk', ['upstream', 'auth_context'])
        .execute();

      await db.schema
        .createTable('upstream_events')
        // PostgreSQL has no AUTOINCREMENT keyword; an identity column is its portable equivalent.
        .addColumn('id', dialect === 'postgres' ? 'bigint' : 'integer', (c) =>
          dialect === 'postgres' ? c.primaryKey().generatedAlwaysAsIdentity() : c.primaryKey().autoIncrement(),
        )
        .addColumn('upstream', 'text', (c) => c.notNull())
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('reason', 'text')
        .execute();
      // `recent` walks one upstream newest-first; `prune` scans by time across all upstreams.
      await db.schema.createIndex('upstream_events_by_upstream').on('upstream_events').columns(['upstream', 'at', 'id']).execute();
      await db.schema.createIndex('upstream_events_by_at').on('upstream_events').column('at').execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('upstream_events').execute();
      await db.schema.dropTable('era_verdicts').execute();
    },
  };
}
