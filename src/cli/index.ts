/**
 * The `portcullis` command line. `bin/portcullis.js` imports the built copy of this module and
 * calls `run()`; running this file directly (e.g. `node --import tsx src/cli/index.ts`) does the
 * same, which is how the end-to-end tests drive it without a build.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { registerConfigCommands } from './config-check.js';
import { registerStart } from './start.js';
import { keysCommand } from './keys.js';
import { usersCommand } from './users.js';
import { secretsCommand } from './secrets.js';
import { upstreamsCommand } from './upstreams.js';
import { policyCommand } from './policy.js';
import { auditCommand } from './audit.js';

/** The package version; package.json sits two levels up from both src/cli and dist/cli. */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? '0.0.0';
}

/** Builds the command tree (no side effects until parsed). */
export function buildProgram(): Command {
  const program = new Command();
  program
    .name('portcullis')
    .description('Self-hosted MCP gateway: one endpoint in front of many MCP servers.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .showHelpAfterError();
  registerStart(program);
  registerConfigCommands(program);
  program.addCommand(keysCommand());
  program.addCommand(usersCommand());
  program.addCommand(secretsCommand());
  program.addCommand(upstreamsCommand());
  program.addCommand(policyCommand());
  program.addCommand(auditCommand());
  return program;
}

/** Parses argv (node-style: [node, script, ...args]) and runs the chosen command. */
export async function run(argv: readonly string[] = process.argv): Promise<void> {
  await buildProgram().parseAsync([...argv]);
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  run().catch((e: unknown) => {
    process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
}
