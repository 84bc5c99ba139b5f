/**
 * Federated accounts (`<name>:<sub>`): they are not in the UserStore, so the tenant and roles
 * mapped from the provider's ID token at sign-in are kept here, in a bounded in-memory map that
 * `findAccount` and the access-token claims read. Each sign-in replaces the entry, so a
 * federated user's claims are refreshed at every sign-in; an entry outlives the refresh tokens
 * issued during its sign-in session. A restart, or eviction of the oldest entry when the map is
 * full, means the user signs in again (their refresh tokens stop working).
 */
import { TtlMap } from './ttl-map.js';

/** Most federated accounts remembered at once. */
export const MAX_FEDERATED_ACCOUNTS = 10_000;

/** What the gateway knows about one federated account. */
export interface FederatedAccount {
  /** The federation entry (`name`) the user signed in with. */
  idp: string;
  tenant: string;
  roles: readonly string[];
}

/** True for a federated account id: local usernames never contain ':'. */
export function isFederatedAccountId(id: string): boolean {
  return id.includes(':');
}

/** The account id of subject `sub` at federation entry `name`. */
export function federatedAccountId(name: string, sub: string): string {
  return `${name}:${sub}`;
}

/** The bounded map of federated accounts, keyed by account id. */
export class FederatedAccounts {
  private readonly map: TtlMap<FederatedAccount>;

  /** `ttlMs`: how long an entry lives after the sign-in that wrote it. */
  constructor(ttlMs: number, maxEntries: number = MAX_FEDERATED_ACCOUNTS, now: () => number = Date.now) {
    this.map = new TtlMap<FederatedAccount>(maxEntries, ttlMs, now);
  }

  get(accountId: string): FederatedAccount | undefined {
    return isFederatedAccountId(accountId) ? this.map.get(accountId) : undefined;
  }

  /** Records (or refreshes) the account after a successful sign-in. */
  set(accountId: string, account: FederatedAccount): void {
    if (!isFederatedAccountId(accountId)) throw new Error('not a federated account id');
    this.map.set(accountId, { idp: account.idp, tenant: account.tenant, roles: Object.freeze([...account.roles]) });
  }

  get size(): number {
    return this.map.size;
  }
}
