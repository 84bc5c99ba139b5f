/**
 * What the audit log feeds beyond the local disk, started once the gateway can resolve secrets:
 * the remote sinks (at least once, from the local log; past their high-water mark the service
 * fails side-effecting calls closed) and the retention pass, whose cuts are recorded as
 * `audit.retention` in the log that was cut.
 */
import type { ResolveSecret } from '../auth/secrets/ref.js';
import type { Logger } from '../observability/logger.js';
import type { CompiledAudit } from './config.js';
import { scheduleRetention } from './retention.js';
import type { AuditService } from './service.js';
import { attachSinks, sinkWantsLog, type SinkLagRow } from './sinks/manager.js';

export interface AuditRemotes {
  /** Delivery lag per (sink, log), for the metrics. */
  lag(): readonly SinkLagRow[];
  /** Stops retention and the sinks; a delivery in flight gets at most `graceMs` to finish. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Logs a sink's failure: a delivery's first failed attempt and then every tenth (an outage must
 * be visible without flooding the log), and always a runner that stopped (`attempt` < 0: a corrupt
 * segment or cursor; that log's calls fail closed past the high-water mark until a restart).
 */
export function logSinkError(log: Logger, sink: string, logId: string, e: unknown, attempt: number): void {
  const err = e instanceof Error ? e.message : String(e);
  if (attempt < 0) log.error({ sink, log: logId, err }, 'audit.sink_stopped');
  else if (attempt === 1 || attempt % 10 === 0) log.warn({ sink, log: logId, attempt, err }, 'audit.sink_failed');
}

export async function startAuditRemotes(audit: AuditService, cfg: CompiledAudit, resolveSecret: ResolveSecret, productVersion: string, log: Logger): Promise<AuditRemotes> {
  if (!cfg.enabled) return { lag: () => [], stop: async () => undefined };
  const sinks =
    cfg.sinks.length > 0
      ? await attachSinks(audit, {
          auditDir: cfg.dir,
          sinks: cfg.sinks,
          resolveSecret,
          productVersion,
          onError: (sink, logId, e, attempt) => logSinkError(log, sink, logId, e, attempt),
        })
      : undefined;
  const r = cfg.retention;
  const retention =
    r.maxAgeMs !== undefined || r.systemMs !== undefined || cfg.retentionTenants.length > 0
      ? scheduleRetention({
          auditDir: cfg.dir,
          retention: r,
          tenants: cfg.retentionTenants,
          sinksFor: (logId) => cfg.sinks.filter((s) => sinkWantsLog(s, logId)).map((s) => s.name),
          onDeleted: (logId, result) => {
            audit.appendLog(logId, 'audit.retention', { deleted: result.deleted, first_seq: result.first_seq, checkpoint_size: result.checkpoint_size });
            log.info({ log: logId, segments: result.deleted.length, firstSeq: result.first_seq }, 'audit.retention');
          },
          onError: (logId, e) => log.warn({ log: logId, err: e instanceof Error ? e.message : String(e) }, 'audit.retention_failed'),
        })
      : undefined;
  return {
    lag: () => sinks?.lag() ?? [],
    async stop(graceMs) {
      await retention?.stop();
      if (sinks) {
        sinks.detach();
        await sinks.stop(graceMs);
      }
    },
  };
}
