/**
 * Witnesses: places every checkpoint is also published to, so whoever holds the signing key
 * cannot quietly rewrite history. Each receives the checkpoint with a consistency proof from
 * the size it last saw and refuses one that is smaller or inconsistent.
 *
 * - `directory`: stands in for WORM storage; keeps `<logId>.note` (the newest accepted) and
 *   checks the proof itself with verifyConsistency.
 * - `http`: POSTs `{log, checkpoint, from, proof}` (proof as base64 hashes); a non-2xx answer
 *   means "not witnessed": retried with backoff (only the newest checkpoint is kept pending).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CompiledWitness } from './config.js';
import { parseCheckpoint } from './checkpoint.js';
import { verifyConsistency } from './merkle.js';
import { writeFileDurable } from './segment.js';
import type { Logger } from '../observability/logger.js';

/** One checkpoint as handed to a witness. */
export interface WitnessSubmission {
  logId: string;
  text: string;
  size: number;
  root: Buffer;
  /** Consistency proof from `from` to `size` (empty when from is 0 or equal). */
  proof(from: number): Buffer[];
}

export interface Witness {
  readonly name: string;
  /** Resolves once witnessed; rejects when refused or unreachable. */
  submit(s: WitnessSubmission): Promise<void>;
  close(): void;
}

/** A witness said no: smaller, forked or inconsistent checkpoint. */
export class WitnessRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WitnessRefused';
  }
}

/** A directory witness; also used on its own by tests and by `portcullis audit` tools. */
export class DirectoryWitness implements Witness {
  constructor(
    readonly name: string,
    private readonly dir: string,
  ) {}

  /** The newest checkpoint this witness accepted for a log, if any. */
  latest(logId: string): { size: number; root: Buffer; text: string } | undefined {
    let text: string;
    try {
      text = readFileSync(join(this.dir, `${logId}.note`), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    const cp = parseCheckpoint(text);
    return { size: cp.size, root: cp.root, text };
  }

  /** Accepts a checkpoint with its proof from `from` (the size this witness last saw). */
  accept(logId: string, text: string, from: number, proof: readonly Buffer[]): void {
    const cp = parseCheckpoint(text);
    const seen = this.latest(logId);
    if (seen) {
      if (from !== seen.size) throw new WitnessRefused(`proof is from size ${from}, witness holds ${seen.size}`);
      if (cp.size < seen.size) throw new WitnessRefused(`checkpoint size ${cp.size} is smaller than the witnessed ${seen.size}`);
      if (cp.size === seen.size && !cp.root.equals(seen.root)) throw new WitnessRefused(`fork: two roots for size ${cp.size}`);
      if (seen.size > 0 && cp.size > seen.size) {
        try {
          verifyConsistency(seen.size, cp.size, proof, seen.root, cp.root);
        } catch (e) {
          throw new WitnessRefused(`inconsistent with witnessed size ${seen.size}: ${(e as Error).message}`);
        }
      }
      if (cp.size === seen.size) return;
    }
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeFileDurable(this.dir, `${logId}.note`, text);
  }

  submit(s: WitnessSubmission): Promise<void> {
    try {
      const from = this.latest(s.logId)?.size ?? 0;
      this.accept(s.logId, s.text, from, from > 0 && from < s.size ? s.proof(from) : []);
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }

  close(): void {}
}

const MAX_BACKOFF_MS = 60_000;

/** An HTTP witness with retry and backoff; it remembers the last size it acknowledged per log. */
export class HttpWitness implements Witness {
  private readonly acked = new Map<string, number>();
  private readonly pending = new Map<string, WitnessSubmission>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly backoff = new Map<string, number>();
  private closed = false;

  constructor(
    readonly name: string,
    private readonly cfg: { url: string; headers: Readonly<Record<string, string>>; timeoutMs: number },
    private readonly log: Logger,
  ) {}

  async submit(s: WitnessSubmission): Promise<void> {
    this.pending.set(s.logId, s);
    const prev = this.timers.get(s.logId);
    if (prev) {
      clearTimeout(prev);
      this.timers.delete(s.logId);
    }
    await this.attempt(s.logId);
  }

  private async attempt(logId: string): Promise<void> {
    const s = this.pending.get(logId);
    if (!s || this.closed) return;
    const from = this.acked.get(logId) ?? 0;
    const proof = from > 0 && from < s.size ? s.proof(from) : [];
    try {
      const res = await fetch(this.cfg.url, {
        method: 'POST',
        headers: { ...this.cfg.headers, 'content-type': 'application/json' },
        body: JSON.stringify({ log: logId, checkpoint: s.text, from, proof: proof.map((p) => p.toString('base64')) }),
        signal: AbortSignal.timeout(this.cfg.timeoutMs),
      });
      await res.body?.cancel().catch(() => undefined);
      if (res.status < 200 || res.status > 299) throw new Error(`HTTP ${res.status}`);
      this.acked.set(logId, s.size);
      if (this.pending.get(logId) === s) this.pending.delete(logId);
      this.backoff.delete(logId);
    } catch (e) {
      const delay = Math.min(MAX_BACKOFF_MS, (this.backoff.get(logId) ?? 500) * 2);
      this.backoff.set(logId, delay);
      this.log.warn({ witness: this.name, log: logId, size: s.size, err: (e as Error).message, retryMs: delay }, 'audit.witness_failed');
      if (!this.closed && !this.timers.has(logId)) {
        const t = setTimeout(() => {
          this.timers.delete(logId);
          void this.attempt(logId);
        }, delay);
        t.unref();
        this.timers.set(logId, t);
      }
      throw e;
    }
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}

/** Builds the configured witnesses. */
export function createWitnesses(cfgs: readonly CompiledWitness[], log: Logger): Witness[] {
  return cfgs.map((w) => (w.kind === 'directory' ? new DirectoryWitness(w.name, w.path) : new HttpWitness(w.name, w, log)));
}
