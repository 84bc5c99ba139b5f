/**
 * C2SP `tlog-checkpoint` bodies inside C2SP `signed-note` envelopes, signed with Ed25519 through
 * node:crypto (security checklist §3.4). The wire format is the one Go's golang.org/x/mod/sumdb/note
 * reads, so other transparency tooling can verify Portcullis checkpoints and vice versa:
 *
 *   <origin>\n<size>\n<base64 root>\n[extension lines\n]   ← the signed body
 *   \n
 *   — <key name> <base64(4-byte key id ‖ 64-byte signature)>\n   ← one line per signer
 *
 * Verification follows the note rules: signatures by unknown keys are ignored (witness
 * cosignatures, rotation), a signature whose (name, key id) is trusted but fails is a rejection,
 * and at least one trusted signature must verify.
 */
import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { HASH_SIZE } from './merkle.js';

/** Bounds: a checkpoint is a few hundred bytes; these stop hostile files, not real ones. */
export const MAX_NOTE_BYTES = 1024 * 1024;
export const MAX_SIGNATURES = 100;

/** Bound of a verifier key file (one to 64 keys, one a line). */
export const MAX_KEY_FILE_BYTES = 64 * 1024;

/** Bounded reads of the files a user points at live in storage/bounded-read.ts. */
export { readFileBounded } from '../storage/bounded-read.js';

const ALG_ED25519 = 1;
const SIG_PREFIX = '\u2014 ';

/** Why a note or checkpoint was refused. */
export type CheckpointErrorCode = 'malformed' | 'bad-key' | 'untrusted' | 'bad-signature' | 'wrong-origin';

/** Raised for every parse or verification failure; `code` lets callers tell them apart. */
export class CheckpointError extends Error {
  override readonly name = 'CheckpointError';
  constructor(readonly code: CheckpointErrorCode, message: string) {
    super(message);
  }
}

/** A trusted public key, parsed from a verifier key string. */
export interface VerifierKey {
  name: string;
  /** 4-byte key id (big-endian hash prefix). */
  keyId: Buffer;
  publicKey: KeyObject;
  /** The `<name>+<hex id>+<base64>` string it came from (or would print as). */
  text: string;
}

/** What signs: the key name (the log origin, by convention) and its Ed25519 key pair. */
export interface CheckpointSigner {
  name: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** The three checkpoint fields. */
export interface CheckpointBody {
  origin: string;
  size: number;
  root: Buffer;
}

/** One signature line, undecided. */
export interface NoteSignature {
  name: string;
  keyId: Buffer;
  sig: Buffer;
}

/** A parsed (not yet verified) checkpoint. */
export interface ParsedCheckpoint extends CheckpointBody {
  /** The signed text, ending in '\n'. */
  body: string;
  /** Extension lines after the root, in order (opaque to Portcullis). */
  extensions: string[];
  signatures: NoteSignature[];
}

function rawPublicKey(pub: KeyObject): Buffer {
  if (pub.asymmetricKeyType !== 'ed25519') throw new CheckpointError('bad-key', 'checkpoint keys must be Ed25519');
  const x = pub.export({ format: 'jwk' }).x;
  if (typeof x !== 'string') throw new CheckpointError('bad-key', 'cannot export the Ed25519 public key');
  return Buffer.from(x, 'base64url');
}

/** A name must be non-empty with no whitespace and no '+' (signed-note). */
function isValidName(name: string): boolean {
  return name.length > 0 && name.length <= 1024 && !/[\s+]/u.test(name);
}

/** ASCII control characters are never allowed in a note, except '\n' between lines. */
function hasControl(s: string, allowNewline: boolean): boolean {
  for (let i = 0; i < s.length; i += 1) {
    const c = s.charCodeAt(i);
    if (c < 0x20 && !(allowNewline && c === 0x0a)) return true;
  }
  return false;
}

function keyIdOf(name: string, encodedKey: Buffer): Buffer {
  return createHash('sha256').update(`${name}\n`).update(encodedKey).digest().subarray(0, 4);
}

/** The verifier key string `<name>+<8 hex key id>+<base64(0x01 ‖ public key)>`. */
export function verifierKey(name: string, publicKey: KeyObject): string {
  if (!isValidName(name)) throw new CheckpointError('bad-key', `invalid key name ${JSON.stringify(name)}`);
  const encoded = Buffer.concat([Buffer.of(ALG_ED25519), rawPublicKey(publicKey)]);
  return `${name}+${keyIdOf(name, encoded).toString('hex')}+${encoded.toString('base64')}`;
}

/** Parses and checks a verifier key string (id must match the key; Ed25519 only). */
export function parseVerifierKey(s: string): VerifierKey {
  const text = s.trim();
  const first = text.indexOf('+');
  const second = first < 0 ? -1 : text.indexOf('+', first + 1);
  if (second < 0) throw new CheckpointError('bad-key', 'verifier key must look like <name>+<8 hex>+<base64 key>');
  const name = text.slice(0, first);
  const hex = text.slice(first + 1, second);
  const b64 = text.slice(second + 1); // may itself contain '+'
  if (!isValidName(name)) throw new CheckpointError('bad-key', 'verifier key has an invalid name');
  if (!/^[0-9a-f]{8}$/u.test(hex)) throw new CheckpointError('bad-key', 'verifier key id must be 8 lowercase hex digits');
  if (!/^[A-Za-z0-9+/]+={0,2}$/u.test(b64)) throw new CheckpointError('bad-key', 'verifier key data is not base64');
  const encoded = Buffer.from(b64, 'base64');
  if (encoded.length !== 33 || encoded[0] !== ALG_ED25519) throw new CheckpointError('bad-key', 'not an Ed25519 verifier key');
  if (keyIdOf(name, encoded).toString('hex') !== hex) throw new CheckpointError('bad-key', 'verifier key id does not match the key');
  const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: encoded.subarray(1).toString('base64url') }, format: 'jwk' });
  return { name, keyId: Buffer.from(hex, 'hex'), publicKey, text };
}

/** Serialises the checkpoint body (the exact signed bytes). */
export function checkpointBody({ origin, size, root }: CheckpointBody): string {
  if (origin.length === 0 || hasControl(origin, false)) throw new CheckpointError('malformed', 'origin must be a non-empty line');
  if (!Number.isSafeInteger(size) || size < 0) throw new CheckpointError('malformed', 'size must be a non-negative safe integer');
  if (root.length !== HASH_SIZE) throw new CheckpointError('malformed', `root must be ${HASH_SIZE} bytes`);
  return `${origin}\n${size}\n${root.toString('base64')}\n`;
}

function signatureLine(body: string, signer: CheckpointSigner): string {
  const encoded = Buffer.concat([Buffer.of(ALG_ED25519), rawPublicKey(signer.publicKey)]);
  if (!isValidName(signer.name)) throw new CheckpointError('bad-key', `invalid key name ${JSON.stringify(signer.name)}`);
  const sig = sign(null, Buffer.from(body, 'utf8'), signer.privateKey);
  return `${SIG_PREFIX}${signer.name} ${Buffer.concat([keyIdOf(signer.name, encoded), sig]).toString('base64')}\n`;
}

/**
 * Signs a checkpoint and returns the whole note. Several signers (e.g. old and new key during a
 * rotation) each add a line.
 */
export function signCheckpoint(cp: CheckpointBody, signer: CheckpointSigner | readonly CheckpointSigner[]): string {
  const body = checkpointBody(cp);
  const signers = Array.isArray(signer) ? (signer as readonly CheckpointSigner[]) : [signer as CheckpointSigner];
  if (signers.length === 0) throw new CheckpointError('bad-key', 'at least one signer is needed');
  return `${body}\n${signers.map((s) => signatureLine(body, s)).join('')}`;
}

/** Adds one more signature (a witness cosignature or a second key) to a signed note. */
export function addSignature(note: string, signer: CheckpointSigner): string {
  const { body } = parseNote(note);
  return `${note}${signatureLine(body, signer)}`;
}

function decodeText(input: string | Buffer): string {
  if (typeof input === 'string') return input;
  if (input.length > MAX_NOTE_BYTES) throw new CheckpointError('malformed', 'note is too large');
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(input);
  } catch {
    throw new CheckpointError('malformed', 'note is not valid UTF-8');
  }
}

/** Splits a signed note into its body and signature lines (no verification). */
export function parseNote(input: string | Buffer): { body: string; signatures: NoteSignature[] } {
  const text = decodeText(input);
  if (Buffer.byteLength(text, 'utf8') > MAX_NOTE_BYTES) throw new CheckpointError('malformed', 'note is too large');
  if (hasControl(text, true)) throw new CheckpointError('malformed', 'note contains control characters');
  if (/\p{Cs}/u.test(text)) throw new CheckpointError('malformed', 'note is not valid Unicode');
  const split = text.lastIndexOf('\n\n');
  if (split < 0) throw new CheckpointError('malformed', 'note has no signature block');
  const body = text.slice(0, split + 1);
  const sigText = text.slice(split + 2);
  if (sigText.length === 0 || !sigText.endsWith('\n')) throw new CheckpointError('malformed', 'note signature block must end in a newline');
  const lines = sigText.slice(0, -1).split('\n');
  if (lines.length > MAX_SIGNATURES) throw new CheckpointError('malformed', `note has more than ${MAX_SIGNATURES} signatures`);
  const signatures = lines.map((line): NoteSignature => {
    if (!line.startsWith(SIG_PREFIX)) throw new CheckpointError('malformed', 'signature line must start with an em dash and a space');
    const rest = line.slice(SIG_PREFIX.length);
    const sp = rest.indexOf(' ');
    const name = sp < 0 ? '' : rest.slice(0, sp);
    const b64 = sp < 0 ? '' : rest.slice(sp + 1);
    if (!isValidName(name) || !/^[A-Za-z0-9+/]+={0,2}$/u.test(b64)) throw new CheckpointError('malformed', 'malformed signature line');
    const raw = Buffer.from(b64, 'base64');
    if (raw.length < 5 || raw.toString('base64') !== b64) throw new CheckpointError('malformed', 'malformed signature');
    return { name, keyId: raw.subarray(0, 4), sig: raw.subarray(4) };
  });
  return { body, signatures };
}

/** Parses a checkpoint note: body fields plus signature lines (no verification). */
export function parseCheckpoint(input: string | Buffer): ParsedCheckpoint {
  const { body, signatures } = parseNote(input);
  const lines = body.slice(0, -1).split('\n');
  const [origin, sizeText, rootText, ...extensions] = lines;
  if (origin === undefined || origin.length === 0) throw new CheckpointError('malformed', 'checkpoint has no origin line');
  if (sizeText === undefined || !/^(0|[1-9][0-9]{0,15})$/u.test(sizeText)) throw new CheckpointError('malformed', 'checkpoint size is not a decimal number');
  const size = Number(sizeText);
  if (!Number.isSafeInteger(size)) throw new CheckpointError('malformed', 'checkpoint size is too large');
  if (rootText === undefined || !/^[A-Za-z0-9+/]{43}=$/u.test(rootText)) throw new CheckpointError('malformed', 'checkpoint root is not a base64 SHA-256 hash');
  const root = Buffer.from(rootText, 'base64');
  if (root.length !== HASH_SIZE || root.toString('base64') !== rootText) throw new CheckpointError('malformed', 'checkpoint root is not a base64 SHA-256 hash');
  if (extensions.some((l) => l.length === 0)) throw new CheckpointError('malformed', 'checkpoint has an empty extension line');
  return { origin, size, root, body, extensions, signatures };
}

function keyLabel(k: { name: string; keyId: Buffer }): string {
  return `${k.name}+${k.keyId.toString('hex')}`;
}

/**
 * Verifies a signed note against trusted keys and returns its body and the trusted keys that
 * signed it. Unknown keys are ignored; a trusted key whose signature fails rejects the note.
 */
export function verifyNote(input: string | Buffer, trusted: readonly VerifierKey[]): { body: string; signedBy: VerifierKey[] } {
  const { body, signatures } = parseNote(input);
  const msg = Buffer.from(body, 'utf8');
  const signedBy: VerifierKey[] = [];
  for (const s of signatures) {
    const matches = trusted.filter((k) => k.name === s.name && k.keyId.equals(s.keyId));
    const key = matches[0];
    if (!key) continue;
    if (new Set(matches.map((k) => k.text)).size > 1) {
      throw new CheckpointError('bad-key', `ambiguous trusted key ${keyLabel(s)}`);
    }
    if (s.sig.length !== 64 || !verify(null, msg, key.publicKey, s.sig)) {
      throw new CheckpointError('bad-signature', `invalid signature for trusted key ${keyLabel(s)}`);
    }
    if (!signedBy.includes(key)) signedBy.push(key);
  }
  if (signedBy.length === 0) throw new CheckpointError('untrusted', 'note has no valid signature from a trusted key');
  return { body, signedBy };
}

/**
 * Verifies a checkpoint: ≥ 1 valid trusted signature, no failing trusted signature. With
 * `origin`, the checkpoint must be for that log and only keys named after it count — so a key of
 * another log (another tenant) can never vouch for this one (checklist I10).
 */
export function verifyCheckpoint(input: string | Buffer, trusted: readonly VerifierKey[], opts: { origin?: string } = {}): CheckpointBody & { signedBy: VerifierKey[] } {
  const cp = parseCheckpoint(input);
  if (opts.origin !== undefined && cp.origin !== opts.origin) {
    throw new CheckpointError('wrong-origin', `checkpoint is for log ${JSON.stringify(cp.origin)}, not ${JSON.stringify(opts.origin)}`);
  }
  const keys = opts.origin === undefined ? trusted : trusted.filter((k) => k.name === opts.origin);
  if (keys.length === 0) throw new CheckpointError('untrusted', `no trusted key is named after the log origin ${JSON.stringify(cp.origin)}`);
  const { signedBy } = verifyNote(input, keys);
  return { origin: cp.origin, size: cp.size, root: cp.root, signedBy };
}
