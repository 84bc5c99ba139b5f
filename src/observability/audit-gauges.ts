/**
 * Maps the audit service's statistics (src/audit/service.ts `stats()`) and its sink runners'
 * lag rows (src/audit/sinks/manager.ts `lag()`) onto the audit gauges. Typed structurally, so
 * the metrics do not depend on the audit module's internals.
 */
import type { AuditStats } from './metrics.js';

/** One (sink, log) pair's delivery lag. */
export interface SinkLagLike {
  sink: string;
  records: number;
  seconds: number;
}

/** The stats callback for `GatewayMetrics.registerAuditGauges`. */
export function auditGaugeSource(audit: { stats(): { lastCheckpointAgeSeconds: number | undefined } }, sinkLag?: () => readonly SinkLagLike[]): () => AuditStats {
  return () => {
    const out: AuditStats = {};
    const age = audit.stats().lastCheckpointAgeSeconds;
    if (age !== undefined) out.checkpointAgeSeconds = age;
    if (sinkLag) {
      const backlog: Record<string, number> = {};
      let lag = 0;
      for (const row of sinkLag()) {
        backlog[row.sink] = (backlog[row.sink] ?? 0) + row.records;
        lag = Math.max(lag, row.seconds);
      }
      out.lagSeconds = lag;
      out.sinkBacklog = backlog;
    }
    return out;
  };
}
