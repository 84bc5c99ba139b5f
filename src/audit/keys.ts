/**
 * Audit keys, one set per log, kept as 0600 files under `<audit dir>/keys/`:
 * `<logId>.key` (Ed25519 private key, PKCS#8 PEM) signs the log's checkpoints, `<logId>.pub`
 * holds its verifier key string (`<name>+<keyid>+<base64>`, what `audit verify --key` takes),
 * and `<logId>.hmac` (32 random bytes) keys the payload HMACs of that tenant's records.
 * A key is named after the log's origin, so one tenant's key cannot sign for another log.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { verifierKey } from './checkpoint.js';

/** What signs a log's checkpoints (the shape checkpoint.ts `signCheckpoint` takes). */
export interface Signer {
  name: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** `<audit dir>/keys`. */
export const keysDir = (auditDir: string): string => join(auditDir, 'keys');

/** Writes a secret file atomically with mode 0600 (temp file, fsync, rename). */
function writeSecret(path: string, data: string | Buffer): void {
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

function readIfExists(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}


/**
 * The log's checkpoint signer, created on first use. `origin` (e.g. `portcullis/acme`) is the
 * key name, as the signed-note format expects.
 */
export function loadOrCreateSigner(auditDir: string, logId: string, origin: string): Signer {
  const dir = keysDir(auditDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, `${logId}.key`);
  const pem = readIfExists(path);
  let privateKey: KeyObject;
  if (pem) privateKey = createPrivateKey(pem);
  else {
    privateKey = generateKeyPairSync('ed25519').privateKey;
    writeSecret(path, privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
  }
  const publicKey = createPublicKey(privateKey);
  // The .pub file is derived data, rewritten each time so it always matches the key.
  writeSecret(join(dir, `${logId}.pub`), `${verifierKey(origin, publicKey)}\n`);
  return { name: origin, privateKey, publicKey };
}

/**
 * Makes `next` the log's signing key on disk: the old pair is copied aside as
 * `<logId>.<unix ms>.key.retired` / `.pub.retired`, then `<logId>.key` and `.pub` are replaced
 * atomically, so a `<logId>.key` exists at every moment (a crash never leaves the log keyless).
 * The writer calls this only after the rotation record and a checkpoint signed by both keys are
 * durable (writer.ts `rotateKeyDurably`).
 */
export function installSigner(auditDir: string, logId: string, origin: string, next: Signer): void {
  const dir = keysDir(auditDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stamp = Date.now();
  const key = join(dir, `${logId}.key`);
  const pub = join(dir, `${logId}.pub`);
  const oldKey = readIfExists(key);
  if (oldKey) writeSecret(join(dir, `${logId}.${stamp}.key.retired`), oldKey);
  const oldPub = readIfExists(pub);
  if (oldPub) writeSecret(join(dir, `${logId}.${stamp}.pub.retired`), oldPub);
  writeSecret(key, next.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
  writeSecret(pub, `${verifierKey(origin, next.publicKey)}\n`);
}

/** A fresh Ed25519 signer named after `origin`, in memory only (installSigner puts it on disk). */
export function newSigner(origin: string): Signer {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { name: origin, privateKey, publicKey };
}

/** The log's payload HMAC key (32 bytes), created on first use. */
export function loadOrCreateHmacKey(auditDir: string, logId: string): Buffer {
  const dir = keysDir(auditDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, `${logId}.hmac`);
  const existing = readIfExists(path);
  if (existing && existing.length === 32) return existing;
  if (existing) throw new Error(`audit HMAC key ${path} is not 32 bytes`);
  const key = randomBytes(32);
  writeSecret(path, key);
  return key;
}
