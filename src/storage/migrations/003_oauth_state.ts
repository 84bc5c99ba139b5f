/** 003_oauth_state: the built-in authorization server's records (clients, grants, sessions, codes, tokens). */
import type { Kysely, Migration } from 'kysely';
import type { SqlDialectName } from './index.js';

/**
 * Builds the migration for one dialect. Every column type is one both dialects share (`text`),
 * so the dialect is unused today; it stays in the signature like 001's.
 */
export function oauthState(_dialect: SqlDialectName): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('oauth_state')
        .addColumn('model', 'text', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text')
        .addColumn('consumed_at', 'text')
        .addColumn('grant_id', 'text')
        .addColumn('user_code', 'text')
        .addColumn('uid', 'text')
        .addPrimaryKeyConstraint('oauth_state_pk', ['model', 'id'])
        .execute();
      // revokeByGrantId, findBy(uid), findBy(userCode) and prune each look rows up by one column.
      await db.schema.createIndex('oauth_state_by_grant').on('oauth_state').column('grant_id').execute();
      await db.schema.createIndex('oauth_state_by_uid').on('oauth_state').column('uid').execute();
      await db.schema.createIndex('oauth_state_by_user_code').on('oauth_state').column('user_code').execute();
      await db.schema.createIndex('oauth_state_by_expiry').on('oauth_state').column('expires_at').execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('oauth_state').execute();
    },
  };
}
