/**
 * Witnesses: places every checkpoint is also published to, so whoever holds the signing key
 * cannot quietly rewrite history. Each receives the checkpoint with a consistency proof from
 * the size it last saw and refuses one that is smaller or inconsistent.
 *
 * - `directory`: stands in for WORM storage; keeps `<logId>.note` (the newest accepted) and
 *   checks the proof itself with verifyConsistency.
 * - `http`: POSTs `{log, checkpoint, from, proof}` (proof as base64 hashes); a non-2xx answer
 *   means "not witnessed": retried with backoff (only the newest checkpoint is kept pending). A
 *   409 naming the size the witness holds (witness-service.ts) is answered at once with a proof
 *   from there.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CompiledWitness } from './config.js';
import { parseCheckpoint } from './checkpoint.js';
import { verifyConsistency } from './merkle.js';
import { writeFileDurableAsync } from './segment.js';
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
  /** Stops retrying; a directory witness first finishes the notes it is writing. */
  close(): void | Promise<void>;
}

/** A witness said no: smaller, forked or inconsistent checkpoint. */
export class WitnessRefused extends Error {
  /** `held`: the size of the checkpoint the witness holds for that log, when it holds one. */
  constructor(
    message: string,
    readonly held?: number,
  ) {
    super(message);
    this.name = 'WitnessRefused';
  }
}

/** A directory witness; also the store of a gateway serving as another one's witness (witness-service.ts). */
export class DirectoryWitness implements Witness {
  /** One accept at a time per log: a check and its write must not interleave with another's. */
  private readonly queues = new Map<string, Promise<unknown>>();

  private closed = false;

  constructor(
    readonly name: string,
    private readonly dir: string,
  ) {}

  /** The newest checkpoint this witness accepted for a log, if any. */
  async latest(logId: string): Promise<{ size: number; root: Buffer; text: string } | undefined> {
    let text: string;
    try {
      text = await readFile(join(this.dir, `${logId}.note`), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    const cp = parseCheckpoint(text);
    return { size: cp.size, root: cp.root, text };
  }

  /**
   * Accepts a checkpoint with its consistency proof from `from` (the size this witness last saw):
   * resolves with the size it now holds, or rejects with WitnessRefused. The note is written on the
   * thread pool (temp file, fsync, rename, fsync of the directory), after any accept of the same
   * log that came first.
   */
  accept(logId: string, text: string, from: number, proof: readonly Buffer[]): Promise<number> {
    return this.serial(logId, () => this.acceptNow(logId, text, from, proof));
  }

  /** Runs `fn` after every earlier task of the same log has settled. */
  private serial<T>(logId: string, fn: () => Promise<T>): Promise<T> {
    const run = (this.queues.get(logId) ?? Promise.resolve()).then(fn);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.queues.set(logId, tail);
    void tail.then(() => {
      if (this.queues.get(logId) === tail) this.queues.delete(logId);
    });
    return run;
  }

  private async acceptNow(logId: string, text: string, from: number, proof: readonly Buffer[]): Promise<number> {
    const cp = parseCheckpoint(text);
    const seen = await this.latest(logId);
    if (seen) {
      if (from !== seen.size) throw new WitnessRefused(`proof is from size ${from}, witness holds ${seen.size}`, seen.size);
      if (cp.size < seen.size) throw new WitnessRefused(`checkpoint size ${cp.size} is smaller than the witnessed ${seen.size}`, seen.size);
      if (cp.size === seen.size && !cp.root.equals(seen.root)) throw new WitnessRefused(`fork: two roots for size ${cp.size}`, seen.size);
      if (seen.size > 0 && cp.size > seen.size) {
        try {
          verifyConsistency(seen.size, cp.size, proof, seen.root, cp.root);
        } catch (e) {
          throw new WitnessRefused(`inconsistent with witnessed size ${seen.size}: ${(e as Error).message}`, seen.size);
        }
      }
      if (cp.size === seen.size) return seen.size;
    }
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFileDurableAsync(this.dir, `${logId}.note`, text);
    return cp.size;
  }

  /** Rejects without writing once close() was called, as the http witness does. */
  async submit(s: WitnessSubmission): Promise<void> {
    if (this.closed) throw new Error(`witness ${this.name} is closed: checkpoint of size ${s.size} not sent`);
    // The size it holds is read inside the queue: a checkpoint submitted while the previous one
    // is still being written gets its proof from that one's size.
    await this.serial(s.logId, async () => {
      const from = (await this.latest(s.logId))?.size ?? 0;
      return this.acceptNow(s.logId, s.text, from, from > 0 && from < s.size ? s.proof(from) : []);
    });
  }

  /** Finishes the notes being written; a submit() after this rejects without writing. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.queues.values()]);
  }
}

const MAX_BACKOFF_MS = 60_000;

/** An HTTP witness with retry and backoff; it remembers the last size it acknowledged per log. */
export class HttpWitness implements Witness {
  private readonly acked = new Map<string, number>();
  private readonly pending = new Map<string, WitnessSubmission>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly backoff = new Map<string, number>();
  /** Submissions whose POST is under way. */
  private readonly inFlight = new Set<Promise<void>>();
  private closed = false;

  constructor(
    readonly name: string,
    private readonly cfg: { url: string; headers: Readonly<Record<string, string>>; timeoutMs: number },
    private readonly log: Logger,
  ) {}

  /** Rejects without sending once close() was called (nothing more is sent or retried). */
  async submit(s: WitnessSubmission): Promise<void> {
    if (this.closed) throw new Error(`witness ${this.name} is closed: checkpoint of size ${s.size} not sent`);
    this.pending.set(s.logId, s);
    const prev = this.timers.get(s.logId);
    if (prev) {
      clearTimeout(prev);
      this.timers.delete(s.logId);
    }
    await this.track(this.attempt(s.logId));
  }

  /** Counts `p` as under way until it settles (close() waits for it). */
  private track(p: Promise<void>): Promise<void> {
    this.inFlight.add(p);
    const done = (): void => void this.inFlight.delete(p);
    p.then(done, done);
    return p;
  }

  private async attempt(logId: string): Promise<void> {
    const s = this.pending.get(logId);
    if (!s || this.closed) return;
    try {
      let status = await this.post(s);
      // 409 with the size the witness holds (a gateway restarted and forgot what it acknowledged,
      // or another process of the same deployment moved it on): once more with a proof from there.
      if (typeof status === 'number' && status <= s.size && status !== (this.acked.get(logId) ?? 0)) {
        this.acked.set(logId, status);
        status = await this.post(s);
      }
      if (status !== 'ok') throw new Error(typeof status === 'number' ? `HTTP 409: the witness holds size ${status}` : status);
      // Only ever forward: an older POST answered after a newer one must not move the proof base back.
      this.acked.set(logId, Math.max(this.acked.get(logId) ?? 0, s.size));
      if (this.pending.get(logId) === s) this.pending.delete(logId);
      this.backoff.delete(logId);
    } catch (e) {
      const delay = Math.min(MAX_BACKOFF_MS, (this.backoff.get(logId) ?? 500) * 2);
      this.backoff.set(logId, delay);
      this.log.warn({ witness: this.name, log: logId, size: s.size, err: (e as Error).message, retryMs: delay }, 'audit.witness_failed');
      if (!this.closed && !this.timers.has(logId)) {
        const t = setTimeout(() => {
          this.timers.delete(logId);
          this.track(this.attempt(logId)).catch(() => undefined);
        }, delay);
        t.unref();
        this.timers.set(logId, t);
      }
      throw e;
    }
  }

  /**
   * One POST with a proof from the size last acknowledged: 'ok' on 2xx; the size the witness says
   * it holds on a 409 that names one in `error.data.size` (as witness-service.ts answers);
   * otherwise why it failed.
   */
  private async post(s: WitnessSubmission): Promise<'ok' | number | `HTTP ${number}`> {
    const from = this.acked.get(s.logId) ?? 0;
    const proof = from > 0 && from < s.size ? s.proof(from) : [];
    const res = await fetch(this.cfg.url, {
      method: 'POST',
      headers: { ...this.cfg.headers, 'content-type': 'application/json' },
      body: JSON.stringify({ log: s.logId, checkpoint: s.text, from, proof: proof.map((p) => p.toString('base64')) }),
      signal: AbortSignal.timeout(this.cfg.timeoutMs),
    });
    if (res.status >= 200 && res.status <= 299) {
      await res.body?.cancel().catch(() => undefined);
      return 'ok';
    }
    if (res.status === 409) {
      const text = await res.text().catch(() => '');
      let held: unknown;
      try {
        held = text.length <= 4096 ? (JSON.parse(text) as { error?: { data?: { size?: unknown } } }).error?.data?.size : undefined;
      } catch {
        held = undefined;
      }
      if (typeof held === 'number' && Number.isSafeInteger(held) && held >= 0) return held;
    } else await res.body?.cancel().catch(() => undefined);
    return `HTTP ${res.status}`;
  }

  /**
   * No more retries; a POST already sent (the final checkpoint's, at shutdown) gets its answer,
   * within `timeout`. A submit() after close() rejects without sending.
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    await Promise.allSettled([...this.inFlight]);
  }
}

/** Builds the configured witnesses. */
export function createWitnesses(cfgs: readonly CompiledWitness[], log: Logger): Witness[] {
  return cfgs.map((w) => (w.kind === 'directory' ? new DirectoryWitness(w.name, w.path) : new HttpWitness(w.name, w, log)));
}
