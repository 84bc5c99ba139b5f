/**
 * Signing keys of the built-in authorization server. One current RS256 key signs; keys it
 * replaced stay published (public part only) until every token they signed has expired, so a
 * rotation never invalidates a token in flight. With SQLite storage the set lives in
 * `<dataDir>/as-signing-keys.json` (0600, replaced atomically); with memory storage it dies with
 * the process.
 */
import { chmod, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import { z } from 'zod';
import { replacePrivateFile } from '../../storage/private-file.js';

/** File name of the persisted key set inside the data directory. */
export const SIGNING_KEYS_FILE = 'as-signing-keys.json';

/** The algorithm of every signing key (the one mcp-remote and the gateway's verifier expect). */
export const SIGNING_ALG = 'RS256';

const PRIVATE_PARTS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth'] as const;

const StoredKey = z.object({
  jwk: z.record(z.string(), z.unknown()).refine((j) => typeof j.kid === 'string' && typeof j.d === 'string' && j.kty === 'RSA', 'an RSA private JWK with kid'),
  createdAt: z.string().datetime(),
  retiredAt: z.string().datetime().optional(),
});
const StoredKeySet = z.object({ version: z.literal(1), keys: z.array(StoredKey).min(1).max(50) });
type StoredKey = z.infer<typeof StoredKey>;

/** Where and how the keys live, and how long they last. */
export interface SigningKeyOptions {
  dataDir: string;
  /** false: memory only (storage 'memory'). */
  persist: boolean;
  /** Age in ms at which the current key is replaced. */
  rotateAfterMs: number;
  /** How long in ms a replaced key stays published (at least the longest token lifetime). */
  keepRetiredMs: number;
  logger: { info(o: object, m?: string): void; warn(o: object, m?: string): void };
  /** Clock, for tests. */
  now?: () => number;
}

/** The key set: the current key first, then retired keys still published. */
export class SigningKeys {
  private keys: StoredKey[];
  private readonly now: () => number;

  private constructor(
    private readonly opts: SigningKeyOptions,
    keys: StoredKey[],
  ) {
    this.keys = keys;
    this.now = opts.now ?? Date.now;
  }

  /** Loads the persisted set (or creates it), then rotates and prunes if due. */
  static async open(opts: SigningKeyOptions): Promise<SigningKeys> {
    const loaded = opts.persist ? await readKeySet(opts) : undefined;
    const set = new SigningKeys(opts, loaded ?? []);
    if (loaded === undefined) {
      set.keys = [await newKey(set.now())];
      await set.save();
      opts.logger.info({ kid: set.currentKid() }, 'authorization server: signing key created');
    }
    await set.rotateIfDue();
    return set;
  }

  /** The kid that signs new tokens. */
  currentKid(): string {
    return String(this.current().jwk.kid);
  }

  /** Replaces an expired current key and drops retired keys past their grace; true when the set changed. */
  async rotateIfDue(): Promise<boolean> {
    const now = this.now();
    let changed = false;
    const current = this.current();
    if (Date.parse(current.createdAt) + this.opts.rotateAfterMs <= now) {
      current.retiredAt = new Date(now).toISOString();
      this.keys = [await newKey(now), ...this.keys];
      changed = true;
      this.opts.logger.info({ kid: this.currentKid(), previous: String(current.jwk.kid) }, 'authorization server: signing key rotated');
    }
    const kept = this.keys.filter((k) => k.retiredAt === undefined || Date.parse(k.retiredAt) + this.opts.keepRetiredMs > now);
    if (kept.length !== this.keys.length) {
      this.keys = kept;
      changed = true;
    }
    if (changed) await this.save();
    return changed;
  }

  /** Private JWKs for oidc-provider, the current key first (it signs with the first match). */
  privateJwks(): { keys: JWK[] } {
    return { keys: this.keys.map((k) => ({ ...(k.jwk as JWK) })) };
  }

  /** Public JWKs of every published key, for local token verification and `/jwks`. */
  publicJwks(): { keys: JWK[] } {
    return {
      keys: this.keys.map((k) => {
        const pub: Record<string, unknown> = { ...k.jwk };
        for (const p of PRIVATE_PARTS) delete pub[p];
        return pub as JWK;
      }),
    };
  }

  private current(): StoredKey {
    const k = this.keys.find((x) => x.retiredAt === undefined) ?? this.keys[0];
    if (!k) throw new Error('authorization server: empty signing key set');
    return k;
  }

  private async save(): Promise<void> {
    if (!this.opts.persist) return;
    await replacePrivateFile(join(this.opts.dataDir, SIGNING_KEYS_FILE), JSON.stringify({ version: 1, keys: this.keys }));
  }
}

async function newKey(now: number): Promise<StoredKey> {
  const { privateKey } = await generateKeyPair(SIGNING_ALG, { extractable: true, modulusLength: 2048 });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint({ kty: jwk.kty, n: jwk.n, e: jwk.e } as JWK);
  return { jwk: { ...jwk, kid, alg: SIGNING_ALG, use: 'sig' }, createdAt: new Date(now).toISOString() };
}

async function readKeySet(opts: SigningKeyOptions): Promise<StoredKey[] | undefined> {
  const file = join(opts.dataDir, SIGNING_KEYS_FILE);
  let text: string;
  try {
    const st = await stat(file);
    if (st.size > 1_000_000) throw new Error(`${file}: too large`);
    if ((st.mode & 0o077) !== 0) {
      // Fix rather than refuse: the file is ours; a loose mode usually comes from a copy or restore.
      opts.logger.warn({ file }, 'authorization server: signing key file was readable by others; mode set to 0600');
      await chmod(file, 0o600);
    }
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`${file}: not valid JSON; remove it to generate new signing keys`);
  }
  const r = StoredKeySet.safeParse(parsed);
  if (!r.success) throw new Error(`${file}: not a signing key set (${r.error.issues[0]?.message ?? 'invalid'}); remove it to generate new signing keys`);
  return r.data.keys;
}

