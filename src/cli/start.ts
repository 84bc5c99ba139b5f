/**
 * `portcullis start`: runs the gateway. The gateway itself is loaded lazily so that `--help` and
 * `config check` stay fast and never open sockets or stores.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { ConfigError, formatIssue } from '../config/load.js';

/** Starts the gateway with the given config file; resolves when the gateway has stopped. */
export async function startAction(opts: { config: string }): Promise<void> {
  const configPath = resolve(opts.config);
  try {
    const { main } = await import('../main.js');
    await main({ configPath });
  } catch (e) {
    // A bad config at startup reads like `config check`; anything else is reported plainly.
    if (e instanceof ConfigError) {
      for (const i of e.issues) process.stderr.write(`${formatIssue(i)}\n`);
    } else {
      process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
    }
    process.exitCode = 1;
  }
}

/** Adds `start` to the program. */
export function registerStart(program: Command): void {
  program
    .command('start')
    .description('Start the gateway.')
    .option('-c, --config <file>', 'the YAML config file', './portcullis.yaml')
    .action(startAction);
}
