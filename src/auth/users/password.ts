/**
 * Password hashing for local users: scrypt (node:crypto) stored as `scrypt$N$r$p$salt$hash` with
 * base64url salt and hash. Parameters are stored with each hash, so raising them later leaves
 * older hashes verifiable; a stored hash asking for absurd parameters is refused rather than run.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { GatewayError } from '../../pipeline/errors.js';

/** CPU/memory cost (2^15), block size and parallelism used for new hashes. */
export const SCRYPT_PARAMS = { N: 2 ** 15, r: 8, p: 1 } as const;
const SALT_BYTES = 16;
const KEY_BYTES = 32;
/** Shortest password accepted when setting one, in characters (code points). */
export const MIN_PASSWORD_CHARS = 8;
/** Longest password accepted, in UTF-8 bytes; longer input is refused without hashing. */
export const MAX_PASSWORD_BYTES = 1024;

// Bounds for parameters read back from storage: a tampered hash must not make one login cost
// gigabytes or minutes. N=2^20 with r=8 needs 1 GiB, so cap memory well below that.
const MAX_N = 2 ** 20;
const MAX_R = 32;
const MAX_P = 16;
const MAX_MEM = 256 * 1024 * 1024;
const PART_RE = /^[A-Za-z0-9_-]{1,128}$/;
const INT_RE = /^[1-9][0-9]{0,7}$/;

function derive(password: string, salt: Buffer, N: number, r: number, p: number): Promise<Buffer> {
  // scrypt needs 128·N·r bytes; Node's default maxmem (32 MiB) is exactly that at N=2^15, r=8,
  // and Node requires strictly more, so set it with headroom.
  const opts: ScryptOptions = { N, r, p, maxmem: 128 * N * r * p + 8 * 1024 * 1024 };
  return new Promise((resolve, reject) => scrypt(password, salt, KEY_BYTES, opts, (err, key) => (err ? reject(err) : resolve(key))));
}

// NFC so that the same password typed on two systems (composed vs decomposed accents) matches.
const normalize = (password: string): string => password.normalize('NFC');

/** Hashes a new password; ERR_BAD_INPUT when shorter than 8 characters or longer than 1024 bytes. */
export async function hashPassword(password: string): Promise<string> {
  if (typeof password !== 'string') throw new GatewayError('ERR_BAD_INPUT', 'password must be a string');
  const pw = normalize(password);
  if (Buffer.byteLength(pw, 'utf8') > MAX_PASSWORD_BYTES) throw new GatewayError('ERR_BAD_INPUT', `password longer than ${MAX_PASSWORD_BYTES} bytes`);
  if ([...pw].length < MIN_PASSWORD_CHARS) throw new GatewayError('ERR_BAD_INPUT', `password shorter than ${MIN_PASSWORD_CHARS} characters`);
  const { N, r, p } = SCRYPT_PARAMS;
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(pw, salt, N, r, p);
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

interface Parsed {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

/** Parses a stored hash, or undefined when it is malformed or asks for out-of-bounds work. */
function parseStored(stored: string): Parsed | undefined {
  if (typeof stored !== 'string' || stored.length > 512) return undefined;
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const [, n, r, p, salt, hash] = parts as [string, string, string, string, string, string];
  if (!INT_RE.test(n) || !INT_RE.test(r) || !INT_RE.test(p) || !PART_RE.test(salt) || !PART_RE.test(hash)) return undefined;
  const N = Number(n);
  const R = Number(r);
  const P = Number(p);
  if (N < 2 || N > MAX_N || (N & (N - 1)) !== 0 || R > MAX_R || P > MAX_P || 128 * N * R * P > MAX_MEM) return undefined;
  const saltBuf = Buffer.from(salt, 'base64url');
  const hashBuf = Buffer.from(hash, 'base64url');
  if (saltBuf.length < 8 || hashBuf.length < 16) return undefined;
  return { N, r: R, p: P, salt: saltBuf, hash: hashBuf };
}

/**
 * Checks a password against a stored hash in constant time. Resolves false (never throws) for a
 * wrong password, a password over 1024 bytes, or a malformed stored hash.
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  if (typeof password !== 'string') return false;
  const pw = normalize(password);
  if (Buffer.byteLength(pw, 'utf8') > MAX_PASSWORD_BYTES) return false;
  const parsed = parseStored(stored);
  if (!parsed) return false;
  const key = await derive(pw, parsed.salt, parsed.N, parsed.r, parsed.p).catch(() => undefined);
  if (!key || key.length !== parsed.hash.length) return false;
  return timingSafeEqual(key, parsed.hash);
}
