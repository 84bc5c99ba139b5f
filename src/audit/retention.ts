/**
 * Retention: deletes a log's oldest SEALED segments once every record in them is older than the
 * retention period, signed by a checkpoint, and delivered to every remote sink. Deletion only
 * ever removes a prefix of the log, and first writes `retention.json`: the Merkle compact range
 * (frontier) at the cut, the leaf hash before it and the checkpoint covering the deleted part, so
 * `portcullis audit verify` can still check the remainder (docs/audit.md "Retention").
 */
import { open, readFile, readdir, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { Duration, TimerDuration } from '../config/primitives.js';
import { parseDuration } from '../config/units.js';
import { CompactRange, leafHash, type CompactRangeState } from './merkle.js';
import { checkpointCovering, listSegments, readRecords } from './export/segments.js';
import { readCursor } from './sinks/cursor.js';
import { SYSTEM_LOG, tenantLogId } from './records.js';

/** `audit.retention`: how long sealed segments are kept, per tenant. Unset = forever. */
export const AuditRetentionConfig = z
  .object({
    maxAge: Duration.optional().describe('Delete sealed segments whose newest record is older than this (e.g. "400d"), once signed and delivered to every sink. Unset: keep forever.'),
    tenants: z
      .record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/), Duration)
      .default({})
      .describe('Per-tenant retention periods overriding `maxAge`.'),
    system: Duration.optional().describe('Retention of the system log; unset: keep forever.'),
    interval: TimerDuration.default('1h').describe('How often the retention pass runs.'),
  })
  .strict()
  .describe('Retention of sealed audit segments (docs/audit.md "Retention"). Deletion is logged as `audit.retention`.');

/** The retention section with periods in milliseconds. */
export interface CompiledRetention {
  maxAgeMs: number | undefined;
  systemMs: number | undefined;
  intervalMs: number;
  /** The period for a tenant's log, or undefined to keep it forever. */
  forTenant(tenant: string): number | undefined;
}

/** Compiles `audit.retention`. */
export function compileRetention(c: z.infer<typeof AuditRetentionConfig>): CompiledRetention {
  const pos = (v: string | number | undefined): number | undefined => {
    if (v === undefined) return undefined;
    const ms = parseDuration(v);
    return ms > 0 ? ms : undefined;
  };
  const maxAgeMs = pos(c.maxAge);
  const per = new Map(Object.entries(c.tenants).map(([t, d]) => [t, pos(d)]));
  return {
    maxAgeMs,
    systemMs: pos(c.system),
    intervalMs: Math.max(1000, parseDuration(c.interval)),
    forTenant: (t) => (per.has(t) ? per.get(t) : maxAgeMs),
  };
}

/** The file that records what retention removed; verify starts from it when present. */
export const RETENTION_FILE = 'retention.json';

/** Contents of `retention.json`. */
export interface RetentionState {
  v: 1;
  /** The log's origin. */
  log: string;
  /** The first seq still on disk: records 0 … first_seq-1 were deleted. */
  first_seq: number;
  /** Hex leaf hash of record first_seq-1: what the first retained record's `prev` must equal. */
  prev: string;
  /** The Merkle compact range over leaves 0 … first_seq-1 (CompactRange.toJSON()). */
  frontier: CompactRangeState;
  /** A signed checkpoint note whose size ≥ first_seq: it covers every deleted record. */
  checkpoint: string;
  /** When the latest deletion happened. */
  at: string;
  /** Every deletion so far, oldest first. */
  deleted: { segment: string; first_seq: number; last_seq: number }[];
}

/** Options of one retention pass. */
export interface RetentionOptions {
  /** Retention period in milliseconds: a segment goes only when its newest record is older. */
  maxAge: number;
  now?: number;
  /** Remote sinks that must have delivered a segment before it may go (their cursor files). */
  sinks?: readonly string[];
}

/** What a pass removed; the caller appends it to the log as an `audit.retention` record. */
export interface RetentionResult {
  deleted: { segment: string; first_seq: number; last_seq: number }[];
  /** The first seq still on disk after the pass (unchanged when nothing was deleted). */
  first_seq: number;
  /** The size of the checkpoint that covers everything deleted (0 when nothing was). */
  checkpoint_size: number;
}

/** Reads `retention.json`, or undefined when nothing was ever deleted. */
export async function readRetentionState(logDir: string): Promise<RetentionState | undefined> {
  try {
    return JSON.parse(await readFile(join(logDir, RETENTION_FILE), 'utf8')) as RetentionState;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function writeDurably(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await fsyncPath(tmp);
  await rename(tmp, path);
}

/**
 * One retention pass over one log directory. Never touches the current (last) segment, never a
 * segment with a record younger than `maxAge`, an unsigned record, or one a sink has not
 * delivered; stops at the first segment that must stay, so what remains is contiguous.
 */
export async function applyRetention(logDir: string, o: RetentionOptions): Promise<RetentionResult> {
  if (!Number.isSafeInteger(o.maxAge) || o.maxAge <= 0) throw new RangeError('retention maxAge must be a positive number of milliseconds');
  const now = o.now ?? Date.now();
  const cutoff = now - o.maxAge;
  const segments = await listSegments(logDir);
  const prior = await readRetentionState(logDir);
  let delivered = Number.POSITIVE_INFINITY;
  for (const name of o.sinks ?? []) delivered = Math.min(delivered, (await readCursor(logDir, name))?.seq ?? 0);

  // Pick the prefix of sealed segments that may go.
  const doomed: { segment: string; path: string; first_seq: number; last_seq: number }[] = [];
  let log = prior?.log ?? '';
  for (let i = 0; i + 1 < segments.length; i++) {
    const seg = segments[i]!;
    const lastSeq = segments[i + 1]!.firstSeq - 1;
    if (lastSeq < seg.firstSeq) break; // empty or inconsistent naming: leave it to verify
    if (prior && lastSeq < prior.first_seq) {
      // Already deleted by a pass that crashed before unlinking it: retention.json covers it.
      doomed.push({ segment: seg.name, path: seg.path, first_seq: seg.firstSeq, last_seq: lastSeq });
      continue;
    }
    if (lastSeq >= delivered) break;
    let newest = Number.NEGATIVE_INFINITY;
    let seen = 0;
    for await (const r of readRecords(logDir, { fromSeq: seg.firstSeq, toSeq: lastSeq })) {
      newest = Math.max(newest, Date.parse(r.ts));
      log = r.log;
      seen++;
    }
    // A segment whose records are not exactly firstSeq … lastSeq is damaged: keep it for verify.
    if (seen !== lastSeq - seg.firstSeq + 1 || !(newest < cutoff)) break;
    doomed.push({ segment: seg.name, path: seg.path, first_seq: seg.firstSeq, last_seq: lastSeq });
  }
  const start = prior?.first_seq ?? 0;
  // Unsigned records never go: trim to what a checkpoint covers.
  while (doomed.length && !(await checkpointCovering(logDir, doomed[doomed.length - 1]!.last_seq))) doomed.pop();
  if (doomed.length === 0) return { deleted: [], first_seq: Math.max(start, segments[0]?.firstSeq ?? 0), checkpoint_size: 0 };
  return applyTrimmed(logDir, prior, doomed, log, now);
}

async function applyTrimmed(
  logDir: string,
  prior: RetentionState | undefined,
  doomed: { segment: string; path: string; first_seq: number; last_seq: number }[],
  log: string,
  now: number,
): Promise<RetentionResult> {
  const cut = doomed[doomed.length - 1]!.last_seq + 1;
  const cp = (await checkpointCovering(logDir, cut - 1))!;
  // The frontier continues from the previous pass; its leaves are the doomed segments' lines.
  const from = prior?.first_seq ?? 0;
  // A segment below `from` is a leftover of a pass that crashed after writing its state.
  if (doomed[0]!.first_seq > from) throw new Error(`retention: first segment starts at seq ${doomed[0]!.first_seq}, expected ≤ ${from}`);
  const deleted = doomed.map(({ segment, first_seq, last_seq }) => ({ segment, first_seq, last_seq }));
  if (cut <= from) {
    for (const d of doomed) await unlink(d.path);
    await fsyncPath(logDir);
    return { deleted, first_seq: from, checkpoint_size: 0 };
  }
  const range = prior ? CompactRange.fromJSON(prior.frontier) : new CompactRange();
  let prev = prior?.prev ?? '';
  for await (const r of readRecords(logDir, { fromSeq: from, toSeq: cut - 1 })) {
    const leaf = leafHash(Buffer.from(r.line, 'utf8'));
    range.append(leaf);
    prev = leaf.toString('hex');
  }
  if (range.size !== cut) throw new Error(`retention: read ${range.size} leaves, expected ${cut}`);
  const state: RetentionState = {
    v: 1,
    log,
    first_seq: cut,
    prev,
    frontier: range.toJSON(),
    checkpoint: cp.note,
    at: new Date(now).toISOString(),
    deleted: [...(prior?.deleted ?? []), ...deleted.filter((d) => d.last_seq >= from)],
  };
  // The state is durable before any segment goes: a crash in between leaves extra segments below
  // first_seq (removed by the next pass), never a hole that nothing explains.
  await writeDurably(join(logDir, RETENTION_FILE), `${JSON.stringify(state)}\n`);
  for (const d of doomed) await unlink(d.path);
  await fsyncPath(logDir);
  return { deleted, first_seq: cut, checkpoint_size: cp.size };
}

/** What the scheduler needs. */
export interface RetentionScheduleOptions {
  auditDir: string;
  retention: CompiledRetention;
  /** Tenant ids named in `audit.retention.tenants` (to map hashed log ids back). */
  tenants: readonly string[];
  /** Names of the sinks that deliver a log: their cursors hold deletion back. */
  sinksFor(logId: string): readonly string[];
  /** Called after a pass deleted something: append `audit.retention` with `result` to that log. */
  onDeleted(logId: string, result: RetentionResult): void;
  onError?(logId: string, e: unknown): void;
}

/** Runs a retention pass over every log now and then every `interval`; `stop()` ends it. */
export function scheduleRetention(o: RetentionScheduleOptions): { runOnce(): Promise<void>; stop(): Promise<void> } {
  const byLogId = new Map(o.tenants.map((t) => [tenantLogId(t), t]));
  let running: Promise<void> | undefined;
  let stopped = false;
  const periodOf = (logId: string): number | undefined => {
    if (logId === SYSTEM_LOG) return o.retention.systemMs;
    const t = byLogId.get(logId) ?? (logId.startsWith('t-') ? logId.slice(2) : undefined);
    return t === undefined ? undefined : o.retention.forTenant(t);
  };
  async function pass(): Promise<void> {
    let ids: string[];
    try {
      ids = await readdir(join(o.auditDir, 'logs'));
    } catch {
      return;
    }
    for (const logId of ids) {
      if (stopped) return;
      const maxAge = periodOf(logId);
      if (maxAge === undefined) continue;
      try {
        const r = await applyRetention(join(o.auditDir, 'logs', logId), { maxAge, sinks: o.sinksFor(logId) });
        if (r.deleted.length > 0) o.onDeleted(logId, r);
      } catch (e) {
        o.onError?.(logId, e);
      }
    }
  }
  const runOnce = (): Promise<void> => (running ??= pass().finally(() => (running = undefined)));
  const timer = setInterval(() => void runOnce(), o.retention.intervalMs);
  timer.unref();
  return {
    runOnce,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
