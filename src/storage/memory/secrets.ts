/** In-memory SecretStore: one map by name, holding only sealed values. */
import type { SecretRecord, SecretStore } from '../ports.js';
import { toMs, type Lifecycle } from '../values.js';

interface Row {
  keyId: string;
  sealed: string;
  updatedAtMs: number;
}

/** Volatile sealed-secret table; behaves exactly as the SQL backends do. */
export class MemorySecretStore implements SecretStore {
  readonly #byName = new Map<string, Row>();

  constructor(private readonly life: Lifecycle) {}

  async put(s: SecretRecord): Promise<void> {
    this.life.assertOpen();
    this.#byName.set(s.name, { keyId: s.keyId, sealed: s.sealed, updatedAtMs: toMs(s.updatedAt, 'updatedAt') });
  }

  async get(name: string): Promise<SecretRecord | undefined> {
    this.life.assertOpen();
    const row = this.#byName.get(name);
    return row ? { name, keyId: row.keyId, sealed: row.sealed, updatedAt: new Date(row.updatedAtMs) } : undefined;
  }

  async list(prefix?: string): Promise<SecretRecord[]> {
    this.life.assertOpen();
    const names = [...this.#byName.keys()].filter((n) => prefix === undefined || n.startsWith(prefix)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return names.map((name) => {
      const row = this.#byName.get(name)!;
      return { name, keyId: row.keyId, sealed: row.sealed, updatedAt: new Date(row.updatedAtMs) };
    });
  }

  async delete(name: string): Promise<boolean> {
    this.life.assertOpen();
    return this.#byName.delete(name);
  }
}
