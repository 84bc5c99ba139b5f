/** OAuthStateStore over any Kysely dialect whose schema came from src/storage/migrations. */
import type { ExpressionBuilder, Kysely } from 'kysely';
import { checkOAuthStateUpsert, clampOAuthListLimit, oauthKeyOk } from '../memory/oauth-state.js';
import type { OAuthStateIndex, OAuthStateRecord, OAuthStateStore } from '../ports.js';
import { fromIso, toIso, type Lifecycle } from '../values.js';
import type { StorageDb } from './schema.js';

type Eb = ExpressionBuilder<StorageDb, 'oauth_state'>;

interface Stored {
  payload: string;
  expires_at: string | null;
  consumed_at: string | null;
}

function fromRow(r: Stored): OAuthStateRecord {
  const out: OAuthStateRecord = { payload: r.payload };
  if (r.expires_at !== null) out.expiresAt = fromIso(r.expires_at, 'expires_at');
  if (r.consumed_at !== null) out.consumedAt = fromIso(r.consumed_at, 'consumed_at');
  return out;
}

/** Not expired at `nowIso`: fixed-width ISO text compares in time order. */
const live = (nowIso: string) => (eb: Eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', nowIso)]);

const nowIso = (): string => toIso(new Date(), 'now');

/**
 * SQL-backed OAuth state. Expired rows stay until `prune` (the authorization server schedules it)
 * but every read filters them out, so expiry is exact without a sweep.
 */
export class SqlOAuthStateStore implements OAuthStateStore {
  constructor(
    private readonly db: Kysely<StorageDb>,
    private readonly life: Lifecycle,
  ) {}

  async upsert(model: string, id: string, payload: string, expiresAt: Date | undefined, index: OAuthStateIndex): Promise<void> {
    this.life.assertOpen();
    checkOAuthStateUpsert(model, id, payload, index);
    // consumed_at is left out of the update: consumption is one-way.
    const fields = {
      payload,
      expires_at: expiresAt === undefined ? null : toIso(expiresAt, 'expiresAt'),
      grant_id: index.grantId ?? null,
      user_code: index.userCode ?? null,
      uid: index.uid ?? null,
    };
    await this.db
      .insertInto('oauth_state')
      .values({ model, id, consumed_at: null, ...fields })
      .onConflict((oc) => oc.columns(['model', 'id']).doUpdateSet(fields))
      .execute();
  }

  async find(model: string, id: string): Promise<OAuthStateRecord | undefined> {
    this.life.assertOpen();
    if (!oauthKeyOk(model) || !oauthKeyOk(id)) return undefined;
    const row = await this.db
      .selectFrom('oauth_state')
      .select(['payload', 'expires_at', 'consumed_at'])
      .where('model', '=', model)
      .where('id', '=', id)
      .where(live(nowIso()))
      .executeTakeFirst();
    return row ? fromRow(row) : undefined;
  }

  async findBy(model: string, key: 'uid' | 'userCode', value: string): Promise<OAuthStateRecord | undefined> {
    this.life.assertOpen();
    if (!oauthKeyOk(model) || !oauthKeyOk(value)) return undefined;
    const row = await this.db
      .selectFrom('oauth_state')
      .select(['payload', 'expires_at', 'consumed_at'])
      .where(key === 'uid' ? 'uid' : 'user_code', '=', value)
      .where('model', '=', model)
      .where(live(nowIso()))
      .limit(1)
      .executeTakeFirst();
    return row ? fromRow(row) : undefined;
  }

  async list(model: string, limit: number): Promise<Array<OAuthStateRecord & { id: string }>> {
    this.life.assertOpen();
    const n = clampOAuthListLimit(limit);
    if (n === 0 || !oauthKeyOk(model)) return [];
    const rows = await this.db
      .selectFrom('oauth_state')
      .select(['id', 'payload', 'expires_at', 'consumed_at'])
      .where('model', '=', model)
      .where(live(nowIso()))
      .limit(n)
      .execute();
    return rows.map((r) => ({ id: r.id, ...fromRow(r) }));
  }

  async count(model: string): Promise<number> {
    this.life.assertOpen();
    if (!oauthKeyOk(model)) return 0;
    const row = await this.db
      .selectFrom('oauth_state')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('model', '=', model)
      .where(live(nowIso()))
      .executeTakeFirstOrThrow();
    // PostgreSQL returns count(*) as a bigint string.
    return Number(row.n);
  }

  async consume(model: string, id: string, at: Date): Promise<void> {
    this.life.assertOpen();
    const atIso = toIso(at, 'at');
    if (!oauthKeyOk(model) || !oauthKeyOk(id)) return;
    await this.db
      .updateTable('oauth_state')
      .set((eb) => ({ consumed_at: eb.fn.coalesce('consumed_at', eb.val(atIso)) }))
      .where('model', '=', model)
      .where('id', '=', id)
      .execute();
  }

  async destroy(model: string, id: string): Promise<void> {
    this.life.assertOpen();
    if (!oauthKeyOk(model) || !oauthKeyOk(id)) return;
    await this.db.deleteFrom('oauth_state').where('model', '=', model).where('id', '=', id).execute();
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    this.life.assertOpen();
    if (!oauthKeyOk(grantId)) return;
    await this.db.deleteFrom('oauth_state').where('grant_id', '=', grantId).execute();
  }

  async prune(now: Date): Promise<number> {
    this.life.assertOpen();
    const res = await this.db
      .deleteFrom('oauth_state')
      .where('expires_at', 'is not', null)
      .where('expires_at', '<=', toIso(now, 'now'))
      .executeTakeFirst();
    return Number(res.numDeletedRows);
  }
}
