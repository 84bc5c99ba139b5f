/**
 * `portcullis config check FILE`: validates a config without starting anything. Exit codes are
 * part of the interface (CI and editors use them): 0 valid, 1 invalid (one issue per line on
 * stderr), 2 the file could not be read.
 */
import type { Command } from 'commander';
import { ConfigError, formatIssue, loadConfigText, readConfigFile } from '../config/load.js';

/** Where the command writes; tests and embedding callers can capture it. */
export interface CheckIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

const stdio: CheckIo = {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
};

/** Checks one file and returns the exit code. */
export function checkConfig(file: string, env: NodeJS.ProcessEnv = process.env, io: CheckIo = stdio): 0 | 1 | 2 {
  let text: string;
  try {
    text = readConfigFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    io.err(code !== undefined ? `error: cannot read ${file}: ${code}` : `error: cannot read ${(e as Error).message}`);
    return 2;
  }
  try {
    const snap = loadConfigText(text, { path: file, env });
    const disabled = snap.config.upstreams.length - snap.upstreams.length;
    const extra = disabled > 0 ? ` (${disabled} disabled)` : '';
    io.out(`ok: ${snap.upstreams.length} upstreams${extra}, ${snap.virtualServers.length} virtual servers`);
    return 0;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    for (const i of e.issues) io.err(formatIssue(i));
    return 1;
  }
}

/** Adds `config check` (under a `config` group) to the program. */
export function registerConfigCommands(program: Command): void {
  const config = program.command('config').description('Work with configuration files.');
  config
    .command('check')
    .description('Validate a config file: exit 0 when valid, 1 with one line per issue, 2 when unreadable.')
    .argument('<file>', 'the YAML config file to check')
    .action((file: string) => {
      process.exitCode = checkConfig(file);
    });
}
