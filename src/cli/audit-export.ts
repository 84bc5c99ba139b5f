/**
 * `portcullis audit export`: one tenant's audit records in a seq or time range as JSONL, OCSF or
 * CEF (docs/audit.md "Exports"). Reads only `<audit dir>/logs/t-<tenant>`; offline, no network.
 * Exit codes: 0 done, 2 usage or I/O error (one `error:` line on stderr), a tenant without a log
 * included.
 */
import { readFileSync, statSync, type WriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { EXPORT_FORMATS, exportLog, parseBound, type ExportFormat } from '../audit/export/export.js';
import { tenantLogDir } from '../audit/export/segments.js';
import { usageExit } from './audit-common.js';

interface ExportCliOptions {
  logDir?: string;
  config?: string;
  tenant: string;
  from?: string;
  to?: string;
  format: ExportFormat;
  out?: string;
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? '0.0.0';
}

async function auditDirOf(o: ExportCliOptions): Promise<string> {
  if (o.logDir && o.config) throw new Error('give --log-dir or --config, not both');
  if (o.logDir) return resolve(o.logDir);
  if (!o.config) throw new Error('give --log-dir DIR (the audit directory holding logs/) or --config FILE');
  const { loadConfigFile } = await import('../config/load.js');
  return loadConfigFile(resolve(o.config)).audit.dir;
}

/** Writes with back-pressure so a large export never buffers in memory; stops at the first write error. */
function sinkFor(out: WriteStream | NodeJS.WriteStream, failed: () => Error | undefined): (line: string) => Promise<void> | void {
  return (line) => {
    const e = failed();
    if (e) throw e;
    if (!out.write(`${line}\n`)) return once(out, 'drain').then(() => undefined);
  };
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Opens `--out` before anything is written (created 0600, truncated): a directory or a missing parent is a clean error. */
async function openOut(path: string): Promise<WriteStream> {
  try {
    const fh = await open(resolve(path), 'w', 0o600);
    return fh.createWriteStream();
  } catch (e) {
    throw new Error(`--out ${path}: ${(e as Error).message}`);
  }
}

/** Runs an export; `stdout` is used unless `--out` names a file (created 0600, truncated). */
export async function runExport(o: ExportCliOptions, stdout: NodeJS.WriteStream = process.stdout): Promise<void> {
  const auditDir = await auditDirOf(o);
  const logDir = tenantLogDir(auditDir, o.tenant);
  const range = { ...(o.from ? parseBound(o.from, 'from') : {}), ...(o.to ? parseBound(o.to, 'to') : {}) };
  // A typo in --tenant or --log-dir must not pass for an empty export.
  if (!isDirectory(logDir)) throw new Error(`no audit log for tenant ${o.tenant} in ${auditDir}`);
  const file = o.out ? await openOut(o.out) : undefined;
  let failed: Error | undefined;
  file?.on('error', (e: Error) => {
    failed ??= new Error(`--out ${o.out ?? ''}: ${e.message}`);
  });
  try {
    await exportLog({ logDir, format: o.format, range, productVersion: packageVersion(), write: sinkFor(file ?? stdout, () => failed) });
  } finally {
    if (file && !file.closed) {
      const closed = once(file, 'close').catch(() => undefined);
      file.end();
      await closed;
    }
  }
  if (failed) throw failed;
}

/** Adds `export` to the `portcullis audit` command group. */
export function addExportCommand(audit: Command): Command {
  return usageExit(audit.command('export'))
    .description('Export one tenant\'s audit records as JSONL (exact stored lines), OCSF or CEF, followed by a trailer stating (log, first_seq, last_seq, count, checkpoint).')
    .option('--log-dir <dir>', 'the audit directory (the one holding logs/ and keys/)')
    .option('--config <file>', 'read the audit directory from this config file (audit.dir)')
    .requiredOption('--tenant <id>', 'the tenant whose log is exported (reads only logs/t-<id>)')
    .option('--from <seq|iso>', 'first record: a seq number or an ISO 8601 time (inclusive)')
    .option('--to <seq|iso>', 'last record: a seq number or an ISO 8601 time (inclusive)')
    .addOption(new Option('--format <format>', 'output format').choices([...EXPORT_FORMATS]).default('jsonl'))
    .option('--out <file>', 'write to this file (mode 0600) instead of stdout')
    .action(async (o: ExportCliOptions) => {
      try {
        await runExport(o);
      } catch (e) {
        process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
        process.exitCode = 2;
      }
    });
}
