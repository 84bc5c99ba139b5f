/**
 * The secret store's encryption keys: one current key that seals, and previous keys that may
 * still open older records until `rotate()` re-seals them. Keys come from config (SecretRefs to
 * base64/base64url/hex text of exactly 32 bytes) or, when none is configured, from a key file
 * the gateway creates once in its data directory (or a random key for the memory store).
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../observability/logger.js';
import { createPrivateFile } from '../../storage/private-file.js';
import { GatewayError } from '../../pipeline/errors.js';
import type { KeyLookup, SecretKey } from './cipher.js';
import { describeRef, type ResolveSecret, type SecretRef } from './ref.js';

/** The keys the encryption layer may use. */
export interface Keyring extends KeyLookup {
  /** Seals every new value. */
  readonly current: SecretKey;
  /** Ids of every key, current first. */
  readonly ids: readonly string[];
}

/** Where the keys come from in config (`secretStore`). */
export interface KeyringConfig {
  current: SecretRef;
  previous?: readonly SecretRef[];
}

/** Name of the generated key file inside the data directory. */
export const DEFAULT_KEY_FILE = 'secret-store.key';

const KEY_BYTES = 32;
const HEX = /^[0-9a-fA-F]{64}$/;
// 32 bytes are 43 base64 characters plus one optional '=' pad; '+/' and '-_' alphabets both accepted.
const B64 = /^[A-Za-z0-9+/_-]{43}=?$/;

/** A key's public id: the first 8 hex characters of the SHA-256 of its bytes. */
export function keyId(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 8);
}

/** Wraps 32 key bytes with their id. */
export function keyFromBytes(bytes: Buffer): SecretKey {
  if (bytes.length !== KEY_BYTES) throw new GatewayError('ERR_INTERNAL', `an encryption key must be ${KEY_BYTES} bytes`);
  return { id: keyId(bytes), bytes: Buffer.from(bytes) };
}

/**
 * Decodes key text (hex, base64 or base64url of exactly 32 bytes; surrounding whitespace
 * ignored). `source` names where it came from; the error never contains the text itself.
 */
export function decodeKey(text: string, source: string): SecretKey {
  const t = text.trim();
  let bytes: Buffer | undefined;
  if (HEX.test(t)) bytes = Buffer.from(t, 'hex');
  else if (B64.test(t)) {
    const unpadded = t.replace(/=$/, '').replace(/\+/g, '-').replace(/\//g, '_');
    const b = Buffer.from(unpadded, 'base64url');
    // Reject non-canonical text (stray low bits in the last character): it is not what was meant.
    if (b.length === KEY_BYTES && b.toString('base64url') === unpadded) bytes = b;
  }
  if (!bytes) {
    throw new GatewayError(
      'ERR_BAD_INPUT',
      `encryption key from ${source} must be exactly 32 bytes written as hex (64 characters), base64 or base64url (43 characters, optional "=")`,
      { detail: { source } },
    );
  }
  return keyFromBytes(bytes);
}

/** A keyring over decoded keys; duplicates of the current key among `previous` are ignored. */
export function createKeyring(current: SecretKey, previous: readonly SecretKey[] = []): Keyring {
  const byId = new Map<string, SecretKey>([[current.id, current]]);
  for (const k of previous) if (!byId.has(k.id)) byId.set(k.id, k);
  const ids = Object.freeze([...byId.keys()]);
  return { current, ids, key: (id) => byId.get(id) };
}

async function resolveKey(ref: SecretRef, resolveSecret: ResolveSecret): Promise<SecretKey> {
  if ('secret' in ref) {
    throw new GatewayError('ERR_BAD_INPUT', `encryption key ${describeRef(ref)}: a secret-store key cannot live in the secret store (use env or file)`);
  }
  return decodeKey(await resolveSecret(ref), describeRef(ref));
}

/** Resolves and decodes configured keys. */
export async function loadKeyring(cfg: KeyringConfig, resolveSecret: ResolveSecret): Promise<Keyring> {
  const current = await resolveKey(cfg.current, resolveSecret);
  const previous: SecretKey[] = [];
  for (const ref of cfg.previous ?? []) previous.push(await resolveKey(ref, resolveSecret));
  return createKeyring(current, previous);
}

/**
 * Reads `<dataDir>/secret-store.key`, creating it (32 random bytes as base64url text, mode 0600,
 * exclusive create) when absent. Text rather than raw bytes, so the same file can later be named
 * as `{file: ...}` in `previousKeys` when moving to a configured key.
 */
export async function loadOrCreateKeyFile(dataDir: string, logger?: Logger): Promise<SecretKey> {
  const path = join(dataDir, DEFAULT_KEY_FILE);
  if (await createPrivateFile(path, `${randomBytes(KEY_BYTES).toString('base64url')}\n`)) logger?.info({ path }, 'secrets.key_file_created');
  const st = await stat(path);
  if (!st.isFile() || st.size > 1024) throw new GatewayError('ERR_BAD_INPUT', `encryption key file ${path} is not a small regular file`);
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
    logger?.warn({ path, mode: (st.mode & 0o777).toString(8) }, 'secrets.key_file_permissions_too_open');
  }
  return decodeKey(await readFile(path, 'utf8'), `file ${path}`);
}

/** How the gateway's keyring is chosen. */
export interface OpenKeyringOptions {
  /** `secretStore`; its `key` is absent when the default applies. */
  config?: { key?: SecretRef; previousKeys?: readonly SecretRef[] };
  storage: 'sqlite' | 'memory';
  /** Absolute data directory (for the generated key file). */
  dataDir: string;
  /** Resolves key references (env and file only). */
  resolveSecret: ResolveSecret;
  logger?: Logger;
}

/**
 * The configured keyring, or the embedded default: the key file for SQLite, a random key that
 * dies with the process for the memory store. Previous keys apply either way.
 */
export async function openKeyring(o: OpenKeyringOptions): Promise<Keyring> {
  const previousRefs = o.config?.previousKeys ?? [];
  if (o.config?.key) return loadKeyring({ current: o.config.key, previous: previousRefs }, o.resolveSecret);
  const current = o.storage === 'memory' ? keyFromBytes(randomBytes(KEY_BYTES)) : await loadOrCreateKeyFile(o.dataDir, o.logger);
  const previous: SecretKey[] = [];
  for (const ref of previousRefs) previous.push(await resolveKey(ref, o.resolveSecret));
  return createKeyring(current, previous);
}
