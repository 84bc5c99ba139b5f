/**
 * Starts one SinkRunner per (log, sink) for the logs under `<audit dir>/logs/`, picks up tenant
 * logs created later, and answers the fail-closed question for the audit service:
 * `service.setBackpressure((logId) => manager.backpressure(logId))`.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ResolveSecret } from '../../auth/secrets/ref.js';
import { tenantLogId } from '../records.js';
import type { CompiledSink } from './config.js';
import { fileSink } from './file.js';
import { otlpSink } from './otlp.js';
import { SinkRunner } from './runner.js';
import type { Sink } from './sink.js';
import { syslogSink } from './syslog.js';
import type { SinkLag } from './tail.js';
import { webhookSink } from './webhook.js';

/** What the manager needs. */
export interface SinkManagerOptions {
  auditDir: string;
  sinks: readonly CompiledSink[];
  resolveSecret: ResolveSecret;
  productVersion: string;
  /** How often to look for new log directories. Default 5 s. */
  rescanMs?: number;
  /**
   * A failed delivery attempt, or a runner that could not be created (its secret or TLS file
   * unreadable: attempt counts the rescans that failed; sink and log are '*' when the log
   * directory itself could not be listed).
   */
  onError?: (sink: string, logId: string, e: unknown, attempt: number) => void;
  /** Durable record count of a log (the audit service's `stats().logs[id].durable`): later records wait. */
  durable?: (logId: string) => number | undefined;
}

/** What `attachSinks` needs from the audit service (src/audit/service.ts). */
export interface SinkHost {
  setBackpressure(pred: ((logId?: string) => string | undefined) | undefined): void;
  onDurable(cb: (logId: string, seq: number) => void): () => void;
  stats(): { logs: Record<string, { durable: number }> };
}

/** One row of `lag()`. */
export interface SinkLagRow extends SinkLag {
  sink: string;
  logId: string;
}

const LOG_ID = /^(system|t-[A-Za-z0-9][A-Za-z0-9_.-]{0,63})$/;

/** Whether a sink delivers a log (its `tenants` and `system` settings). */
export function sinkWantsLog(s: CompiledSink, logId: string): boolean {
  if (logId === 'system') return s.system;
  return !s.tenants || s.tenants.some((t) => tenantLogId(t) === logId);
}

/** Builds the sink object for a compiled sink (resolving its secret). */
export async function createSink(s: CompiledSink, resolveSecret: ResolveSecret, productVersion: string): Promise<Sink> {
  switch (s.kind) {
    case 'webhook':
      return webhookSink({ name: s.name, url: s.url, secret: await resolveSecret(s.secret), headers: s.headers, timeoutMs: s.timeoutMs });
    case 'syslog':
      return syslogSink({ name: s.name, host: s.host, port: s.port, format: s.format, facility: s.facility, ...(s.tls ? { tls: s.tls } : {}), timeoutMs: s.timeoutMs, productVersion });
    case 'file':
      return fileSink({ name: s.name, path: s.path });
    case 'otlp':
      return otlpSink({ name: s.name, url: s.url, headers: s.headers, ...(s.authorization ? { authorization: await resolveSecret(s.authorization) } : {}), timeoutMs: s.timeoutMs, productVersion });
  }
}

/** All sink runners of one gateway process. */
export class SinkManager {
  readonly #o: SinkManagerOptions;
  readonly #runners = new Map<string, SinkRunner>();
  /** (sink, log) pairs wanted but whose runner could not be created: why, and how many rescans failed. */
  readonly #failed = new Map<string, { logId: string; reason: string; attempts: number }>();
  /** Why the last listing of the log directory failed, and how many in a row. */
  #scanError: { reason: string; attempts: number } | undefined;
  #scan: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #wakeTimer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(o: SinkManagerOptions) {
    this.#o = o;
  }

  /** Starts runners for the logs present now, then rescans periodically. */
  async start(): Promise<void> {
    await this.rescan();
    if (this.#o.sinks.length === 0) return;
    // rescan() reports its failures through onError and never rejects.
    this.#timer = setInterval(() => void this.rescan(), this.#o.rescanMs ?? 5000);
    this.#timer.unref();
  }

  /**
   * Starts runners for log directories that appeared since the last scan, and retries those that
   * could not be created. A (sink, log) whose runner cannot be created (its secret or TLS file
   * unreadable) is reported through onError, counts as backpressure for that log (its records
   * cannot be delivered: fail closed) and does not stop the others. Never rejects; one scan at a
   * time (a call during a scan waits for it).
   */
  rescan(): Promise<void> {
    this.#scan ??= this.#rescan().finally(() => (this.#scan = undefined));
    return this.#scan;
  }

  async #rescan(): Promise<void> {
    if (this.#stopped || this.#o.sinks.length === 0) return;
    let ids: string[];
    try {
      ids = (await readdir(join(this.#o.auditDir, 'logs'))).filter((n) => LOG_ID.test(n));
      this.#scanError = undefined;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return void (this.#scanError = undefined);
      const attempts = (this.#scanError?.attempts ?? 0) + 1;
      this.#scanError = { reason: e instanceof Error ? e.message : String(e), attempts };
      this.#o.onError?.('*', '*', e, attempts);
      return;
    }
    for (const logId of ids) {
      for (const s of this.#o.sinks) {
        const key = `${s.name}\u0000${logId}`;
        if (!sinkWantsLog(s, logId) || this.#runners.has(key)) continue;
        let sink: Sink;
        try {
          sink = await createSink(s, this.#o.resolveSecret, this.#o.productVersion);
        } catch (e) {
          const attempts = (this.#failed.get(key)?.attempts ?? 0) + 1;
          this.#failed.set(key, { logId, reason: e instanceof Error ? e.message : String(e), attempts });
          this.#o.onError?.(s.name, logId, e, attempts);
          continue;
        }
        this.#failed.delete(key);
        if (this.#stopped) return void (await sink.close().catch(() => undefined));
        const runner = new SinkRunner({
          logDir: join(this.#o.auditDir, 'logs', logId),
          logId,
          sink,
          batch: s.batch,
          pollMs: s.pollMs,
          timeoutMs: s.timeoutMs,
          retry: s.retry,
          highWater: s.highWater,
          onSinkFailure: s.onSinkFailure,
          ...(this.#o.durable ? { durableSize: () => this.#o.durable!(logId) } : {}),
          onError: (e, attempt) => this.#o.onError?.(s.name, logId, e, attempt),
        });
        this.#runners.set(key, runner);
        runner.start();
      }
    }
  }

  /** Wakes every runner (e.g. after a sync) instead of waiting for its next poll; coalesced to one wake per 10 ms. */
  wake(): void {
    if (this.#wakeTimer || this.#stopped) return;
    this.#wakeTimer = setTimeout(() => {
      this.#wakeTimer = undefined;
      for (const r of this.#runners.values()) r.wake();
    }, 10);
    this.#wakeTimer.unref();
  }

  /**
   * The first reason to fail closed, or undefined: the predicate for the audit service. With a
   * log id, only that log's sinks count: a call writes to its own tenant's log only, so one
   * tenant's lagging sink must not refuse another tenant's calls. Without, any log's (health).
   */
  backpressure(logId?: string): string | undefined {
    for (const [key, f] of this.#failed) {
      if (logId !== undefined && f.logId !== logId) continue;
      return `audit sink ${key.split('\u0000')[0]}/${f.logId} cannot start: ${f.reason}`;
    }
    // The log directory cannot be listed: a log no runner knows of yet may have no sink either.
    if (this.#scanError && (logId === undefined || this.#o.sinks.some((s) => sinkWantsLog(s, logId) && !this.#runners.has(`${s.name}\u0000${logId}`)))) {
      return `audit sinks cannot scan the log directory: ${this.#scanError.reason}`;
    }
    for (const r of this.#runners.values()) {
      if (logId !== undefined && r.logId !== logId) continue;
      const why = r.backpressure();
      if (why) return why;
    }
    return undefined;
  }

  /** Lag of every (sink, log) pair, for `audit_sink_lag_seconds` and friends. */
  lag(): SinkLagRow[] {
    return [...this.#runners.entries()].map(([key, r]) => {
      const [sink, logId] = key.split('\u0000') as [string, string];
      return { sink, logId, ...r.lag };
    });
  }

  /** For metrics: undelivered records per sink (summed over logs) and the oldest undelivered record's age per sink. */
  metrics(): { sinkBacklog: Record<string, number>; sinkLagSeconds: Record<string, number> } {
    const sinkBacklog: Record<string, number> = {};
    const sinkLagSeconds: Record<string, number> = {};
    for (const l of this.lag()) {
      sinkBacklog[l.sink] = (sinkBacklog[l.sink] ?? 0) + l.records;
      sinkLagSeconds[l.sink] = Math.max(sinkLagSeconds[l.sink] ?? 0, l.seconds);
    }
    return { sinkBacklog, sinkLagSeconds };
  }

  /**
   * Stops every runner. Each lets its in-flight batch finish within `graceMs`, or abandons it
   * (the cursor stays behind it, so the batch is sent again after a restart).
   */
  async stop(graceMs?: number): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    if (this.#wakeTimer) clearTimeout(this.#wakeTimer);
    await Promise.all([...this.#runners.values()].map((r) => r.stop(graceMs)));
    this.#runners.clear();
    this.#failed.clear();
  }
}

/**
 * Starts the sinks of an audit service: delivers only durable records, wakes the runners after
 * each sync, and makes the service fail side-effecting calls closed past a high-water mark.
 * Returns the manager; `stop()` it (and the service detaches) on shutdown.
 */
export async function attachSinks(host: SinkHost, o: Omit<SinkManagerOptions, 'durable'>): Promise<SinkManager & { detach(): void }> {
  const m = new SinkManager({ ...o, durable: (logId) => host.stats().logs[logId]?.durable });
  const off = host.onDurable(() => m.wake());
  host.setBackpressure((logId) => m.backpressure(logId));
  await m.start();
  return Object.assign(m, {
    detach(): void {
      off();
      host.setBackpressure(undefined);
    },
  });
}
