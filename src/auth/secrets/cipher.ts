/**
 * AES-256-GCM sealing of secret values. A sealed value is base64url of `iv (12) || ciphertext ||
 * tag (16)`; the record name is the additional authenticated data, so a sealed value copied to
 * another name (or another key) fails to open instead of yielding a different secret.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { GatewayError } from '../../pipeline/errors.js';

/** One 32-byte encryption key and its public id (first 8 hex chars of its SHA-256). */
export interface SecretKey {
  readonly id: string;
  readonly bytes: Buffer;
}

/** Anything that can find a key by id (a Keyring). */
export interface KeyLookup {
  key(id: string): SecretKey | undefined;
}

const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
/** Sealed values are capped by the value cap upstream; this only bounds the base64 we decode. */
const MAX_SEALED_CHARS = 256 * 1024;

/** Encrypts `plaintext` under `key`, binding it to `aad` (the record name). */
export function seal(key: SecretKey, plaintext: string, aad: string): string {
  if (key.bytes.length !== KEY_BYTES) throw new GatewayError('ERR_INTERNAL', `encryption key ${key.id} is not ${KEY_BYTES} bytes`);
  const iv = randomBytes(IV_BYTES);
  const c = createCipheriv('aes-256-gcm', key.bytes, iv, { authTagLength: TAG_BYTES });
  c.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([c.update(plaintext, 'utf8'), c.final()]);
  return Buffer.concat([iv, body, c.getAuthTag()]).toString('base64url');
}

/**
 * Decrypts a sealed value. Fails (ERR_UPSTREAM_CREDENTIALS, naming `aad` and the key id only)
 * when the key is not in the keyring, the value is malformed, tampered with, or sealed for
 * another name.
 */
export function open(keyring: KeyLookup, keyId: string, sealed: string, aad: string): string {
  const fail = (why: string): GatewayError =>
    new GatewayError('ERR_UPSTREAM_CREDENTIALS', `secret "${aad}" cannot be decrypted: ${why}`, { detail: { secret: aad, keyId } });
  const key = keyring.key(keyId);
  if (!key) throw fail(`it was sealed under key ${keyId}, which is not configured (add it to secretStore.previousKeys)`);
  if (sealed.length > MAX_SEALED_CHARS || !/^[A-Za-z0-9_-]*$/.test(sealed)) throw fail('malformed sealed value');
  const raw = Buffer.from(sealed, 'base64url');
  if (raw.length < IV_BYTES + TAG_BYTES) throw fail('malformed sealed value');
  const iv = raw.subarray(0, IV_BYTES);
  const tag = raw.subarray(raw.length - TAG_BYTES);
  const body = raw.subarray(IV_BYTES, raw.length - TAG_BYTES);
  try {
    const d = createDecipheriv('aes-256-gcm', key.bytes, iv, { authTagLength: TAG_BYTES });
    d.setAAD(Buffer.from(aad, 'utf8'));
    d.setAuthTag(tag);
    return Buffer.concat([d.update(body), d.final()]).toString('utf8');
  } catch {
    throw fail('authentication failed (wrong key, tampered value, or a value moved from another name)');
  }
}
