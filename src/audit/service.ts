/**
 * AuditService: the gateway's audit logs (docs/audit.md). One log per tenant (`t-<tenant>`,
 * opened on the tenant's first record) and one system log (`system`) for admin, config and
 * health events. `open()` recovers every log already on disk before the gateway listens;
 * `close()` syncs and signs a final checkpoint.
 *
 * What others read: `health()` for /readyz, `stats()` for metrics, `onDurable()` for the sink
 * runner, and `setBackpressure()` lets that runner fail side-effecting calls closed when its
 * backlog passes a high-water mark.
 */
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { CompiledAudit } from './config.js';
import type { Logger } from '../observability/logger.js';
import { nodeIo, type AuditIo } from './segment.js';
import { LogWriter, type LogStats } from './writer.js';
import { SYSTEM_LOG, tenantLogId, bound, type EventType, type Fields } from './records.js';
import { createWitnesses, type Witness } from './witness.js';

export interface AuditHealth {
  status: 'ok' | 'degraded' | 'disabled';
  reason?: string;
}

export interface AuditStats {
  records: number;
  bytes: number;
  /** Seconds since the newest checkpoint of any log (undefined before the first). */
  lastCheckpointAgeSeconds: number | undefined;
  logs: Record<string, LogStats>;
}

export interface AuditServiceOptions {
  /** File I/O of the append path (tests inject faults and count syncs). */
  io?: AuditIo;
}

/** How often a log that could not be opened is tried again. */
const REOPEN_MS = 1000;
/** authn.success is recorded once per principal per this window. */
const AUTHN_WINDOW_MS = 60_000;
const AUTHN_MAX_KEYS = 10_000;
/** Tenants whose log id is remembered (a bound: the map is cleared when full). */
const MAX_LOG_IDS = 10_000;
/** Most authn.failure records per second; the excess is counted into the next one. */
const AUTHN_FAILURES_PER_S = 50;

export class AuditService {
  private readonly logs = new Map<string, LogWriter>();
  private readonly broken = new Map<string, { reason: string; at: number; dropped: number }>();
  private readonly witnesses: Witness[];
  private readonly io: AuditIo;
  private readonly durableListeners = new Set<(logId: string, seq: number) => void>();
  private backpressure: ((logId?: string) => string | undefined) | undefined;
  private locked: string | undefined;
  private lockHeld = false;
  private lockTriedAt = 0;
  private readonly authnSeen = new Map<string, number>();
  private readonly logIds = new Map<string, string>();
  private authnFailures = { second: 0, count: 0, suppressed: 0 };

  constructor(
    readonly cfg: CompiledAudit,
    private readonly log: Logger,
    opts: AuditServiceOptions = {},
  ) {
    this.io = opts.io ?? nodeIo;
    this.witnesses = cfg.enabled ? createWitnesses(cfg.witnesses, log) : [];
  }

  get enabled(): boolean {
    return this.cfg.enabled;
  }

  /** Recovers every log found on disk, and opens the system log. Never throws: failures show in health(). */
  open(): void {
    if (!this.cfg.enabled) return;
    try {
      mkdirSync(join(this.cfg.dir, 'logs'), { recursive: true, mode: 0o700 });
      this.lock();
      this.lockHeld = true;
      for (const id of readdirSync(join(this.cfg.dir, 'logs'))) if (id === SYSTEM_LOG || id.startsWith('t-')) this.writer(id);
    } catch (e) {
      this.markBroken(SYSTEM_LOG, e);
    }
    this.writer(SYSTEM_LOG);
  }

  /**
   * One writer per audit directory: a second live gateway on the same directory would
   * interleave two `seq` sequences. `writer.lock` holds the owner's pid; a dead owner's lock
   * (a crash) is taken over.
   */
  private lock(): void {
    const path = join(this.cfg.dir, 'writer.lock');
    for (let attempt = 0; attempt < 2; attempt += 1) {
      try {
        const fd = openSync(path, 'wx', 0o600);
        writeSync(fd, String(process.pid));
        closeSync(fd);
        this.locked = path;
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const owner = Number(readFileSync(path, 'utf8').trim());
      if (owner === process.pid) return; // reopened in this process (tests)
      if (Number.isSafeInteger(owner) && owner > 0 && alive(owner)) throw Object.assign(new Error(`audit directory in use by pid ${owner}`), { code: 'ELOCKED' });
      unlinkSync(path);
    }
    throw Object.assign(new Error('audit directory lock contended'), { code: 'ELOCKED' });
  }

  private originOf(logId: string): string {
    return `${this.cfg.origin}/${logId === SYSTEM_LOG ? SYSTEM_LOG : logId.slice(2)}`;
  }

  private markBroken(logId: string, e: unknown): void {
    const reason = `audit log cannot be opened: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
    const prev = this.broken.get(logId);
    if (!prev) this.log.error({ log: logId, err: (e as Error).message }, 'audit.open_failed');
    this.broken.set(logId, { reason, at: Date.now(), dropped: prev?.dropped ?? 0 });
  }

  /** The writer of a log, opening (recovering) it on first use; undefined while it cannot be opened. */
  private writer(logId: string): LogWriter | undefined {
    const w = this.logs.get(logId);
    if (w) return w;
    const b = this.broken.get(logId);
    if (b && Date.now() - b.at < REOPEN_MS) return undefined;
    try {
      if (!this.lockHeld) {
        // Never write before holding the directory (retried at most once a second).
        if (Date.now() - this.lockTriedAt < REOPEN_MS && this.lockTriedAt > 0) throw Object.assign(new Error('audit directory not locked'), { code: 'ELOCKED' });
        this.lockTriedAt = Date.now();
        mkdirSync(join(this.cfg.dir, 'logs'), { recursive: true, mode: 0o700 });
        this.lock();
        this.lockHeld = true;
      }
      const opened = LogWriter.open({
        auditDir: this.cfg.dir,
        logId,
        origin: this.originOf(logId),
        cfg: this.cfg,
        io: this.io,
        log: this.log,
        witnesses: this.witnesses,
        onDurable: (id, seq) => {
          for (const l of this.durableListeners) l(id, seq);
        },
      });
      this.logs.set(logId, opened);
      if (b) {
        this.broken.delete(logId);
        if (b.dropped > 0) opened.append('audit.gap', { records_lost: b.dropped, reason: b.reason }, false);
      }
      return opened;
    } catch (e) {
      this.markBroken(logId, e);
      return undefined;
    }
  }

  /** A tenant's log (opened on first use). */
  tenantLog(tenant: string): LogWriter | undefined {
    return this.cfg.enabled ? this.writer(this.logIdOf(tenant)) : undefined;
  }

  /** The system log (opened on first use). */
  systemLog(): LogWriter | undefined {
    return this.cfg.enabled ? this.writer(SYSTEM_LOG) : undefined;
  }

  /** Why a log could not be opened, if it could not. */
  brokenReason(logId: string): string | undefined {
    return this.broken.get(logId)?.reason;
  }

  /** tenantLogId, remembered: it runs for every audited call's records. */
  private logIdOf(tenant: string): string {
    let id = this.logIds.get(tenant);
    if (id === undefined) {
      if (this.logIds.size >= MAX_LOG_IDS) this.logIds.clear();
      id = tenantLogId(tenant);
      this.logIds.set(tenant, id);
    }
    return id;
  }

  /** Why a side-effecting call of this tenant must be refused now, or undefined. */
  unavailable(tenant: string): string | undefined {
    if (!this.cfg.enabled) return undefined;
    const id = this.logIdOf(tenant);
    const bp = this.backpressure?.(id);
    if (bp !== undefined) return bp;
    const w = this.writer(id);
    return w ? w.unavailable() : (this.broken.get(id)?.reason ?? 'audit log unavailable');
  }

  /**
   * Appends to a tenant's log. `durable`: resolves once synced, rejects when it cannot be;
   * otherwise fire-and-forget (a log that cannot be opened counts the record into an audit.gap).
   */
  appendTenant(tenant: string, type: EventType, fields: Fields, durable: true): Promise<number>;
  appendTenant(tenant: string, type: EventType, fields: Fields, durable: false): void;
  appendTenant(tenant: string, type: EventType, fields: Fields, durable: boolean): Promise<number> | void {
    return this.appendTo(tenantLogId(tenant), type, fields, durable);
  }

  /** Appends to a log by its id (`system` or `t-…`), never waiting: e.g. retention notes a cut in the log it cut. */
  appendLog(logId: string, type: EventType, fields: Fields): void {
    this.appendTo(logId, type, fields, false);
  }

  /** Appends to the system log (never waits). */
  appendSystem(type: EventType, fields: Fields): void {
    this.appendTo(SYSTEM_LOG, type, fields, false);
  }

  private appendTo(logId: string, type: EventType, fields: Fields, durable: boolean): Promise<number> | void {
    if (!this.cfg.enabled) return durable ? Promise.resolve(-1) : undefined;
    const w = this.writer(logId);
    if (!w) {
      const b = this.broken.get(logId);
      if (b) b.dropped += 1;
      return durable ? Promise.reject(new Error(b?.reason ?? 'audit log unavailable')) : undefined;
    }
    if (durable) return w.append(type, fields, true);
    w.append(type, fields, false);
  }

  /** authn.success, at most once per principal per minute (a session or request stream is one event). */
  authnSuccess(p: { subject: string; tenant: string; authMethod: string; clientId?: string; issuer?: string }, endpoint: string): void {
    if (!this.cfg.enabled) return;
    const key = `${p.tenant}\0${p.subject}\0${p.authMethod}\0${p.clientId ?? ''}\0${endpoint}`;
    const now = Date.now();
    const seen = this.authnSeen.get(key);
    if (seen !== undefined && now - seen < AUTHN_WINDOW_MS) return;
    if (this.authnSeen.size >= AUTHN_MAX_KEYS) this.authnSeen.clear();
    this.authnSeen.set(key, now);
    this.appendTo(tenantLogId(p.tenant), 'authn.success', {
      actor: { sub: bound(p.subject), tenant: bound(p.tenant), authn: p.authMethod, ...(p.clientId !== undefined ? { client_id: bound(p.clientId) } : {}), ...(p.issuer !== undefined ? { issuer: bound(p.issuer) } : {}) },
      endpoint: bound(endpoint, 64),
    }, false);
  }

  /** authn.failure to the system log (no tenant is known yet), rate-limited: an attacker cannot fill the disk. */
  authnFailure(endpoint: string, code: string, reason: unknown, ip: string | undefined): void {
    if (!this.cfg.enabled) return;
    const s = Math.floor(Date.now() / 1000);
    const f = this.authnFailures;
    if (f.second !== s) {
      f.second = s;
      f.count = 0;
    }
    if (f.count >= AUTHN_FAILURES_PER_S) {
      f.suppressed += 1;
      return;
    }
    f.count += 1;
    const suppressed = f.suppressed;
    f.suppressed = 0;
    this.appendTo(SYSTEM_LOG, 'authn.failure', {
      endpoint: bound(endpoint, 64),
      code,
      ...(typeof reason === 'string' ? { reason: bound(reason, 128) } : {}),
      ...(ip !== undefined ? { ip: bound(ip, 64) } : {}),
      ...(suppressed > 0 ? { suppressed } : {}),
    }, false);
  }

  /** Called with (logId, last durable seq) after every sync. Returns the unsubscribe function. */
  onDurable(cb: (logId: string, seq: number) => void): () => void {
    this.durableListeners.add(cb);
    return () => void this.durableListeners.delete(cb);
  }

  /**
   * A predicate returning a reason to fail side-effecting calls closed (e.g. sink backlog past its
   * high-water mark): asked with the call's log id, and without one (any log) for health.
   */
  setBackpressure(pred: ((logId?: string) => string | undefined) | undefined): void {
    this.backpressure = pred;
  }

  health(): AuditHealth {
    if (!this.cfg.enabled) return { status: 'disabled' };
    const bp = this.backpressure?.();
    if (bp !== undefined) return { status: 'degraded', reason: bp };
    for (const [, b] of this.broken) return { status: 'degraded', reason: b.reason };
    for (const w of this.logs.values()) {
      const r = w.unavailable();
      if (r !== undefined) return { status: 'degraded', reason: r };
    }
    return { status: 'ok' };
  }

  stats(): AuditStats {
    const logs: Record<string, LogStats> = {};
    let records = 0;
    let bytes = 0;
    let newest: number | undefined;
    for (const [id, w] of this.logs) {
      logs[id] = { ...w.stats };
      records += w.stats.records;
      bytes += w.stats.bytes;
      const at = w.stats.lastCheckpointAt;
      if (at !== undefined && (newest === undefined || at > newest)) newest = at;
    }
    return { records, bytes, lastCheckpointAgeSeconds: newest === undefined ? undefined : (Date.now() - newest) / 1000, logs };
  }

  /** Writes everything queued so far (tests, shutdown). */
  async drain(): Promise<void> {
    await Promise.all([...this.logs.values()].map((w) => w.drain()));
  }

  /** Final checkpoint and sync of every log. */
  async close(): Promise<void> {
    await Promise.all([...this.logs.values()].map((w) => w.close().catch((e: unknown) => this.log.error({ log: w.logId, err: (e as Error).message }, 'audit.close_failed'))));
    await Promise.all(this.witnesses.map((w) => w.close()));
    if (this.locked) {
      try {
        unlinkSync(this.locked);
      } catch {
        /* already gone */
      }
      this.locked = undefined;
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
