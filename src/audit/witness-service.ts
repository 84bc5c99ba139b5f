/**
 * This gateway as the checkpoint witness of other gateways (docs/audit.md, "A gateway as
 * witness"): `POST /audit/witness` takes what an `http` witness sends, `{log, checkpoint, from,
 * proof}`, and keeps the newest checkpoint of each log in a directory, through the same checks
 * as a `directory` witness (witness.ts): a smaller, forked or inconsistent checkpoint is refused
 * with 409 and the size held, so a restarted sender can prove consistency from there.
 *
 * Only logs whose verifier keys are configured are witnessed: the checkpoint must carry a valid
 * signature by a trusted key named after its origin (403 otherwise). Anyone else can at most
 * replay a checkpoint those keys signed, which moves the witness forward only along the log.
 */
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { z } from 'zod';
import { CheckpointError, parseVerifierKey, verifyCheckpoint, type VerifierKey } from './checkpoint.js';
import { DirectoryWitness, WitnessRefused } from './witness.js';
import { HASH_SIZE } from './merkle.js';
import { GatewayError } from '../pipeline/errors.js';

/** Bounds of one submission: a checkpoint is a few hundred bytes, a proof ≤ 2·log2(size) hashes. */
export const WITNESS_MAX_BODY_BYTES = 64 * 1024;
const MAX_NOTE_CHARS = 16 * 1024;
const MAX_PROOF_HASHES = 128;

function isVerifierKey(s: string): boolean {
  try {
    parseVerifierKey(s);
    return true;
  } catch {
    return false;
  }
}

export const WitnessServiceConfig = z
  .object({
    enabled: z.boolean().default(false).describe('Serve `POST /audit/witness`: witness the checkpoints of other gateways whose keys are listed below.'),
    dir: z.string().optional().describe('Where the newest checkpoint of each witnessed log is kept; relative to the config file. Default: `<gateway.dataDir>/witness`.'),
    trustedKeys: z
      .array(z.string().max(512).refine(isVerifierKey, 'not a verifier key (`<origin>+<8 hex>+<base64>`, as in `keys/<log>.pub`)'))
      .max(1000)
      .default([])
      .describe('Verifier keys of the logs this gateway witnesses (the `.pub` files of the other gateway); a checkpoint must be signed by one named after its origin.'),
  })
  .strict()
  .describe('This gateway as a checkpoint witness for other gateways (docs/audit.md, "A gateway as witness"). Read at start.');

export type WitnessServiceInput = z.infer<typeof WitnessServiceConfig>;

export interface CompiledWitnessService {
  enabled: boolean;
  /** Absolute. */
  dir: string;
  trustedKeys: readonly string[];
}

export function compileWitnessService(w: WitnessServiceInput, configDir: string, dataDir: string): CompiledWitnessService {
  return { enabled: w.enabled, dir: w.dir !== undefined ? resolve(configDir, w.dir) : resolve(dataDir, 'witness'), trustedKeys: [...w.trustedKeys] };
}

const Submission = z
  .object({
    log: z.string().max(256).optional(),
    checkpoint: z.string().min(1).max(MAX_NOTE_CHARS),
    from: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    proof: z.array(z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'a base64 SHA-256 hash')).max(MAX_PROOF_HASHES),
  })
  .strict();

/**
 * The file a log's checkpoints are kept in: its origin made safe for a file name, plus a hash of
 * the origin so that two origins that read alike (`a/b`, `a_b`) never share one.
 */
export function witnessFileId(origin: string): string {
  const safe = origin.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 96);
  return `${safe}-${createHash('sha256').update(origin).digest('hex').slice(0, 12)}`;
}

export class WitnessService {
  private readonly store: DirectoryWitness;
  private readonly trusted: readonly VerifierKey[];

  constructor(readonly cfg: CompiledWitnessService) {
    this.store = new DirectoryWitness('witness-service', cfg.dir);
    this.trusted = cfg.trustedKeys.map((k) => parseVerifierKey(k));
  }

  /**
   * Checks and keeps one submission (the parsed JSON body). Resolves with the log's origin and
   * the size now held; rejects with a GatewayError: ERR_BAD_INPUT (400), ERR_WITNESS_UNTRUSTED
   * (403), ERR_WITNESS_REFUSED (409, `data.size` = the size held).
   */
  async submit(body: unknown): Promise<{ origin: string; size: number }> {
    const parsed = Submission.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new GatewayError('ERR_BAD_INPUT', `Witness submission: ${issue ? `${issue.path.join('.') || 'body'}: ${issue.message}` : 'invalid'}`);
    }
    const { checkpoint, from, proof } = parsed.data;
    let origin: string;
    try {
      // Only keys named after the checkpoint's own origin count (checkpoint.ts, checklist I10).
      const first = checkpoint.slice(0, checkpoint.indexOf('\n'));
      origin = verifyCheckpoint(checkpoint, this.trusted, { origin: first }).origin;
    } catch (e) {
      if (e instanceof CheckpointError && e.code === 'malformed') throw new GatewayError('ERR_BAD_INPUT', `Witness submission: ${e.message}`);
      throw new GatewayError('ERR_WITNESS_UNTRUSTED', e instanceof CheckpointError ? e.message : undefined);
    }
    const hashes = proof.map((p) => Buffer.from(p, 'base64'));
    if (hashes.some((h) => h.length !== HASH_SIZE)) throw new GatewayError('ERR_BAD_INPUT', 'Witness submission: proof: a base64 SHA-256 hash');
    try {
      return { origin, size: await this.store.accept(witnessFileId(origin), checkpoint, from, hashes) };
    } catch (e) {
      if (e instanceof WitnessRefused) throw new GatewayError('ERR_WITNESS_REFUSED', e.message, { data: e.held !== undefined ? { size: e.held } : {} });
      throw e;
    }
  }

  /** Waits for notes being written (shutdown). */
  close(): Promise<void> {
    return this.store.close();
  }
}
