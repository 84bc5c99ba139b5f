/**
 * The encryption layer over a SecretStore: values are sealed (AES-256-GCM, the record name as
 * AAD) before they reach storage and opened after, so no backend ever holds plaintext.
 */
import { GatewayError } from '../../pipeline/errors.js';
import type { SecretStore } from '../../storage/ports.js';
import { open, seal } from './cipher.js';
import type { Keyring } from './keyring.js';

/** Largest value accepted, in UTF-8 bytes. */
export const MAX_SECRET_BYTES = 64 * 1024;
/** Longest record name. */
export const MAX_SECRET_NAME = 512;
/** Namespace of operator-managed secrets (`{secret: NAME}` refs, `portcullis secrets set`). */
export const USER_SECRET_PREFIX = 'secret/';

function checkName(name: string): void {
  // Names reach logs and error messages: printable, bounded, no control characters.
  if (name.length === 0 || name.length > MAX_SECRET_NAME || [...name].some((c) => c < ' ' || c === '\x7f')) {
    throw new GatewayError('ERR_BAD_INPUT', `invalid secret name (1 to ${MAX_SECRET_NAME} printable characters)`);
  }
}

/** Secrets by name, encrypted at rest with the keyring's current key. */
export class EncryptedSecrets {
  readonly #store: SecretStore;
  readonly #keyring: Keyring;
  readonly #now: () => Date;

  constructor(store: SecretStore, keyring: Keyring, opts: { now?: () => Date } = {}) {
    this.#store = store;
    this.#keyring = keyring;
    this.#now = opts.now ?? (() => new Date());
  }

  /** Id of the key new values are sealed under. */
  get currentKeyId(): string {
    return this.#keyring.current.id;
  }

  /** Stores (or replaces) a value. Rejects empty values and values over 64 KB (ERR_BAD_INPUT). */
  async set(name: string, value: string): Promise<void> {
    checkName(name);
    if (typeof value !== 'string' || value.length === 0) throw new GatewayError('ERR_BAD_INPUT', `secret "${name}": the value is empty`);
    if (Buffer.byteLength(value, 'utf8') > MAX_SECRET_BYTES) {
      throw new GatewayError('ERR_BAD_INPUT', `secret "${name}": the value exceeds ${MAX_SECRET_BYTES} bytes`);
    }
    const key = this.#keyring.current;
    await this.#store.put({ name, keyId: key.id, sealed: seal(key, value, name), updatedAt: this.#now() });
  }

  /** The value, or undefined when there is no such record. Rejects when it cannot be decrypted. */
  async get(name: string): Promise<string | undefined> {
    checkName(name);
    const r = await this.#store.get(name);
    if (!r) return undefined;
    // The stored name is used as AAD, but it must also be the one asked for.
    if (r.name !== name) throw new GatewayError('ERR_UPSTREAM_CREDENTIALS', `secret "${name}": the store returned another record`);
    return open(this.#keyring, r.keyId, r.sealed, name);
  }

  /** Deletes a record; resolves false when there was none. */
  async delete(name: string): Promise<boolean> {
    checkName(name);
    return this.#store.delete(name);
  }

  /** Names under `prefix` (all when omitted), in name order. Values are not decrypted. */
  async list(prefix?: string): Promise<string[]> {
    return (await this.#store.list(prefix)).map((r) => r.name);
  }

  /** Names with the id of the key each is sealed under, in name order. */
  async entries(prefix?: string): Promise<{ name: string; keyId: string; updatedAt: Date }[]> {
    return (await this.#store.list(prefix)).map((r) => ({ name: r.name, keyId: r.keyId, updatedAt: r.updatedAt }));
  }

  /**
   * Re-seals every record not under the current key and resolves to how many were re-sealed.
   * Every record is opened first, so a record whose key is missing fails the run before anything
   * is written. A record changed while rotating (its sealed value differs from what was read) is
   * left as the newer write made it.
   */
  async rotate(): Promise<number> {
    const current = this.#keyring.current;
    const stale = (await this.#store.list()).filter((r) => r.keyId !== current.id);
    const opened = stale.map((r) => ({ r, value: open(this.#keyring, r.keyId, r.sealed, r.name) }));
    let count = 0;
    for (const { r, value } of opened) {
      const now = await this.#store.get(r.name);
      if (!now || now.keyId !== r.keyId || now.sealed !== r.sealed) continue;
      // updatedAt keeps the value's age: rotation changes the envelope, not the secret.
      await this.#store.put({ name: r.name, keyId: current.id, sealed: seal(current, value, r.name), updatedAt: r.updatedAt });
      count++;
    }
    return count;
  }
}
