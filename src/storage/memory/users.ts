/** In-memory UserStore: one map by username. */
import { GatewayError } from '../../pipeline/errors.js';
import type { UserRecord, UserStore } from '../ports.js';
import { toMs, type Lifecycle } from '../values.js';

interface Row {
  username: string;
  tenant: string;
  roles: string[];
  passwordHash: string;
  createdAtMs: number;
  disabled: boolean;
}

const copyOut = (r: Row): UserRecord => ({
  username: r.username,
  tenant: r.tenant,
  roles: [...r.roles],
  passwordHash: r.passwordHash,
  createdAt: new Date(r.createdAtMs),
  disabled: r.disabled,
});

/** Volatile user table; behaves exactly as the SQL backends do. */
export class MemoryUserStore implements UserStore {
  readonly #byName = new Map<string, Row>();

  constructor(private readonly life: Lifecycle) {}

  async create(u: UserRecord): Promise<void> {
    this.life.assertOpen();
    const row: Row = {
      username: u.username,
      tenant: u.tenant,
      roles: [...u.roles],
      passwordHash: u.passwordHash,
      createdAtMs: toMs(u.createdAt, 'createdAt'),
      disabled: u.disabled === true,
    };
    if (this.#byName.has(u.username)) throw new GatewayError('ERR_CONFLICT', 'storage: a user with this username exists', { detail: { username: u.username } });
    this.#byName.set(u.username, row);
  }

  async get(username: string): Promise<UserRecord | undefined> {
    this.life.assertOpen();
    const row = this.#byName.get(username);
    return row ? copyOut(row) : undefined;
  }

  async list(): Promise<UserRecord[]> {
    this.life.assertOpen();
    const rows = [...this.#byName.values()].sort((a, b) => (a.username < b.username ? -1 : a.username > b.username ? 1 : 0));
    return rows.map(copyOut);
  }

  async update(u: UserRecord): Promise<boolean> {
    this.life.assertOpen();
    const row = this.#byName.get(u.username);
    if (!row) return false;
    row.tenant = u.tenant;
    row.roles = [...u.roles];
    row.passwordHash = u.passwordHash;
    row.disabled = u.disabled === true;
    return true;
  }

  async delete(username: string): Promise<boolean> {
    this.life.assertOpen();
    return this.#byName.delete(username);
  }
}
