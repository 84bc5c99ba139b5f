/**
 * Local users of the built-in authorization server: creation with validated fields, and password
 * login that costs the same whether or not the user exists (no user enumeration by timing).
 */
import { randomBytes } from 'node:crypto';
import { GatewayError } from '../../pipeline/errors.js';
import type { UserRecord, UserStore } from '../../storage/ports.js';
import { checkRoles, checkTenant } from '../keys/principal-fields.js';
import { hashPassword, verifyPassword } from './password.js';

// Anchored single character classes: linear on any input. `@` and `.` allow e-mail-like names.
const USERNAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9._@-]{0,63}$/;

/** True when `username` follows the login-name rule (1..64 of letters, digits, `.`, `_`, `@`, `-`). */
export function isValidUsername(username: unknown): username is string {
  return typeof username === 'string' && USERNAME_RE.test(username);
}

/** What `addUser` needs. */
export interface NewUser {
  username: string;
  tenant: string;
  roles: readonly string[];
  password: string;
  /** Creation time; defaults to now. */
  now?: Date;
}

/**
 * Creates a user with a freshly hashed password. Rejects ERR_BAD_INPUT for an invalid username,
 * tenant, role or password, and ERR_CONFLICT when the username is taken. The returned record
 * carries the hash, not the password.
 */
export async function addUser(store: UserStore, u: NewUser): Promise<UserRecord> {
  if (!isValidUsername(u.username)) {
    throw new GatewayError('ERR_BAD_INPUT', 'username must be 1..64 letters, digits, ".", "_", "@" or "-", starting with a letter or digit');
  }
  const tenant = checkTenant(u.tenant);
  const roles = checkRoles(u.roles);
  const record: UserRecord = {
    username: u.username,
    tenant,
    roles,
    passwordHash: await hashPassword(u.password),
    createdAt: u.now ?? new Date(),
    disabled: false,
  };
  await store.create(record);
  return record;
}

/** Enables or disables a user; resolves false when there is no such user. */
export async function setUserDisabled(store: UserStore, username: string, disabled: boolean): Promise<boolean> {
  const u = await store.get(username);
  if (!u) return false;
  return store.update({ ...u, disabled });
}

/** Replaces a user's password (same rules as `addUser`); resolves false when there is no such user. */
export async function setUserPassword(store: UserStore, username: string, password: string): Promise<boolean> {
  const passwordHash = await hashPassword(password);
  const u = await store.get(username);
  if (!u) return false;
  return store.update({ ...u, passwordHash });
}

// Verified against when the user is unknown, so that path spends one full scrypt too. Made once,
// lazily, from a random password nobody knows.
let dummyHash: Promise<string> | undefined;
function dummy(): Promise<string> {
  dummyHash ??= hashPassword(randomBytes(24).toString('base64url')).catch((e: unknown) => {
    dummyHash = undefined;
    throw e;
  });
  return dummyHash;
}

/**
 * Checks a username and password. Resolves the user when both match and the user is enabled,
 * else undefined: unknown user, wrong password and disabled user look the same to the caller
 * and take the same scrypt time.
 */
export async function authenticateUser(store: UserStore, username: string, password: string): Promise<UserRecord | undefined> {
  const user = isValidUsername(username) ? await store.get(username) : undefined;
  const ok = await verifyPassword(password, user?.passwordHash ?? (await dummy()));
  if (!user || !ok || user.disabled) return undefined;
  return user;
}
