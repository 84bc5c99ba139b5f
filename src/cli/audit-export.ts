/**
 * `portcullis audit export`: one tenant's audit records in a seq or time range as JSONL, OCSF or
 * CEF (docs/audit.md "Exports"). Reads only `<audit dir>/logs/t-<tenant>`; offline, no network.
 * Exit codes: 0 done, 2 usage or I/O error (one `error:` line on stderr).
 */
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { EXPORT_FORMATS, exportLog, parseBound, type ExportFormat } from '../audit/export/export.js';
import { tenantLogDir } from '../audit/export/segments.js';

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

/** Writes with back-pressure so a large export never buffers in memory. */
function sinkFor(out: WriteStream | NodeJS.WriteStream): (line: string) => Promise<void> | void {
  return (line) => {
    if (!out.write(`${line}\n`)) return once(out, 'drain').then(() => undefined);
  };
}

/** Runs an export; `stdout` is used unless `--out` names a file (created 0600, truncated). */
export async function runExport(o: ExportCliOptions, stdout: NodeJS.WriteStream = process.stdout): Promise<void> {
  const logDir = tenantLogDir(await auditDirOf(o), o.tenant);
  const range = { ...(o.from ? parseBound(o.from, 'from') : {}), ...(o.to ? parseBound(o.to, 'to') : {}) };
  const file = o.out ? createWriteStream(resolve(o.out), { mode: 0o600 }) : undefined;
  try {
    await exportLog({ logDir, format: o.format, range, productVersion: packageVersion(), write: sinkFor(file ?? stdout) });
  } finally {
    if (file) {
      file.end();
      await once(file, 'close');
    }
  }
}

/** Adds `export` to the `portcullis audit` command group. */
export function addExportCommand(audit: Command): Command {
  return audit
    .command('export')
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
