/**
 * `portcullis audit rotate-key`: rotates the signing key of one log while the gateway is stopped
 * (the system log's, or a tenant's; a running gateway rotates a tenant log with
 * `POST /admin/api/audit/rotate-key`). It opens the audit directory as the gateway does (taking
 * its lock, so it refuses while a gateway holds it), appends `audit.key_rotated`, records
 * `admin.audit.key_rotated` in the system log, and closes with a checkpoint signed by both keys.
 * Prints `{"log", "oldKey", "newKey"}`. Exit codes: 0 done, 2 usage or I/O error.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { AuditService } from '../audit/service.js';
import { auditAdmin } from '../audit/events.js';
import { SYSTEM_LOG, tenantLogId } from '../audit/records.js';
import { logDir } from '../audit/segment.js';
import { silentLogger } from '../observability/logger.js';
import { usageExit } from './audit-common.js';

interface RotateCliOptions {
  config: string;
  tenant?: string;
  system?: boolean;
}

async function rotate(o: RotateCliOptions): Promise<{ log: string; oldKey: string; newKey: string }> {
  if ((o.tenant === undefined) === (o.system !== true)) throw new Error('give --tenant ID or --system');
  const { loadConfigFile } = await import('../config/load.js');
  const cfg = loadConfigFile(resolve(o.config)).audit;
  if (!cfg.enabled) throw new Error('the audit log is off in this config (audit.enabled: false)');
  // A tenant without a log has no key to rotate (opening one would create both).
  if (o.tenant !== undefined && !existsSync(logDir(cfg.dir, tenantLogId(o.tenant)))) throw new Error(`no audit log for tenant ${o.tenant} in ${cfg.dir}`);
  const svc = new AuditService(cfg, silentLogger);
  svc.open();
  try {
    const logId = o.tenant !== undefined ? tenantLogId(o.tenant) : SYSTEM_LOG;
    const w = o.tenant !== undefined ? svc.tenantLog(o.tenant) : svc.systemLog();
    const why = w ? (w.unavailable() ?? w.stats.failure) : (svc.brokenReason(logId) ?? 'audit log unavailable');
    if (!w || why !== undefined) throw new Error(`${logId}: ${why} (a running gateway holds the directory: stop it, or use POST /admin/api/audit/rotate-key for a tenant log)`);
    const keys = await w.rotateKeyDurably();
    auditAdmin(svc, 'audit.key_rotated', { subject: 'portcullis audit rotate-key', tenant: o.tenant ?? SYSTEM_LOG, authMethod: 'cli' }, { log: logId });
    return { log: logId, oldKey: keys.old, newKey: keys.new };
  } finally {
    await svc.close();
  }
}

export function addRotateKeyCommand(audit: Command): Command {
  return usageExit(audit.command('rotate-key'))
    .description("Rotate a log's signing key while the gateway is stopped (--system or --tenant). The log records audit.key_rotated and closes with a checkpoint signed by both keys. Prints the old and new verifier keys.")
    .requiredOption('--config <file>', 'the gateway config (its audit directory is used)')
    .option('--tenant <id>', "rotate this tenant's log (logs/t-<id>)")
    .option('--system', 'rotate the system log')
    .action(async (o: RotateCliOptions) => {
      try {
        process.stdout.write(`${JSON.stringify(await rotate(o))}\n`);
      } catch (e) {
        process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
        process.exitCode = 2;
      }
    });
}
