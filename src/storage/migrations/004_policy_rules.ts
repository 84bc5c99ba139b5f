/** 004_policy_rules: policy rules added through the admin API, per tenant. */
import type { Kysely, Migration } from 'kysely';
import type { SqlDialectName } from './index.js';

/** Builds the migration for one dialect (every column is `text`, shared by both dialects). */
export function policyRules(_dialect: SqlDialectName): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('policy_rules')
        .addColumn('tenant', 'text', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('rule', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('policy_rules_pk', ['tenant', 'id'])
        .execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('policy_rules').execute();
    },
  };
}
