/**
 * The key-hash key: the HMAC key under which API key secrets are stored. It comes from config
 * (`auth.apiKeys.hashKey`, a SecretRef) or, by default, from `<dataDir>/api-key-hash.key`, which
 * the first gateway or CLI run creates. The gateway and `portcullis keys` must use the same one,
 * or keys created by one are refused by the other.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createPrivateFile } from '../../storage/private-file.js';
import { GatewayError } from '../../pipeline/errors.js';
import { describeRef, type ResolveSecret, type SecretRef } from '../secrets/ref.js';
import { MIN_HASH_KEY_BYTES } from './api-key.js';

/** Name of the generated key file inside the data directory. */
export const HASH_KEY_FILE = 'api-key-hash.key';

const GENERATED_BYTES = 32;
// A key file or secret larger than this is not a key; refuse rather than hash a whole document.
const MAX_KEY_TEXT = 4096;
const HEX_RE = /^(?:[0-9a-fA-F]{2})+$/;
const B64_RE = /^[A-Za-z0-9+/_-]+={0,2}$/;

/**
 * Decodes key text to bytes: hex, then base64/base64url (canonical only), then the raw UTF-8
 * text itself, whichever first yields at least 32 bytes. Surrounding whitespace is ignored.
 * Throws ERR_BAD_INPUT naming `source`, never the text.
 */
export function decodeHashKey(text: string, source: string): Buffer {
  const bad = (why: string) => new GatewayError('ERR_BAD_INPUT', `API key hash key from ${source}: ${why}`, { detail: { source } });
  const t = text.trim();
  if (t.length > MAX_KEY_TEXT) throw bad(`longer than ${MAX_KEY_TEXT} characters`);
  let bytes: Buffer | undefined;
  if (HEX_RE.test(t) && t.length >= MIN_HASH_KEY_BYTES * 2) bytes = Buffer.from(t, 'hex');
  if (!bytes && B64_RE.test(t)) {
    const unpadded = t.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
    const b = Buffer.from(unpadded, 'base64url');
    if (b.length >= MIN_HASH_KEY_BYTES && b.toString('base64url') === unpadded) bytes = b;
  }
  if (!bytes && Buffer.byteLength(t, 'utf8') >= MIN_HASH_KEY_BYTES) bytes = Buffer.from(t, 'utf8');
  if (!bytes) throw bad(`must hold at least ${MIN_HASH_KEY_BYTES} bytes (hex, base64url, or at least ${MIN_HASH_KEY_BYTES} characters of text)`);
  // A run of one repeated byte is a placeholder someone forgot to replace (checklist B9).
  if (bytes.every((b) => b === bytes[0])) throw bad('is a placeholder (every byte the same)');
  return bytes;
}

async function readKeyFile(path: string): Promise<Buffer> {
  const text = await readFile(path, 'utf8');
  return decodeHashKey(text, `file ${path}`);
}

/** Creates the key file (see createPrivateFile); undefined when another process created it first. */
async function createKeyFile(path: string): Promise<Buffer | undefined> {
  const text = `${randomBytes(GENERATED_BYTES).toString('base64url')}\n`;
  return (await createPrivateFile(path, text)) ? decodeHashKey(text, `file ${path}`) : undefined;
}

/** Options for `loadKeyHashKey`. */
export interface LoadKeyHashKeyOptions {
  /** `auth.apiKeys.hashKey`; when set it wins over the key file. */
  ref?: SecretRef;
  /** Required when `ref` is set. */
  resolveSecret?: ResolveSecret;
  /** The gateway's data directory (absolute, or relative to the process cwd). */
  dataDir: string;
  storage: 'sqlite' | 'memory';
}

// With storage memory every key dies with the process anyway; one key per process keeps keys
// created before a config reload valid after it.
let memoryKey: Buffer | undefined;

/**
 * The key-hash key: the configured reference's value, or the data directory's key file (created
 * on first use), or a per-process random key with `storage: memory`. Rejects ERR_BAD_INPUT for a
 * configured value shorter than 32 bytes, ERR_INTERNAL when the key file cannot be read or made.
 */
export async function loadKeyHashKey(opts: LoadKeyHashKeyOptions): Promise<Buffer> {
  if (opts.ref) {
    if (!opts.resolveSecret) throw new GatewayError('ERR_BAD_INPUT', `API key hash key ${describeRef(opts.ref)}: no secret resolver available`);
    return decodeHashKey(await opts.resolveSecret(opts.ref), describeRef(opts.ref));
  }
  if (opts.storage === 'memory') {
    memoryKey ??= randomBytes(GENERATED_BYTES);
    return Buffer.from(memoryKey);
  }
  const dir = resolve(opts.dataDir);
  const path = join(dir, HASH_KEY_FILE);
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    try {
      return await readKeyFile(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    return (await createKeyFile(path)) ?? (await readKeyFile(path));
  } catch (e) {
    if (e instanceof GatewayError) throw e;
    throw new GatewayError('ERR_INTERNAL', `cannot read or create the API key hash key file ${path}`, { cause: e, detail: { path } });
  }
}
