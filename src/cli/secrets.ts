/**
 * `portcullis secrets`: manage the gateway's encrypted secret store (values for `{secret: NAME}`
 * references). Values are read from stdin or a file, never from argv (argv shows in `ps` and in
 * shell history). Exit codes: 0 done, 1 failed (one `error:` line on stderr).
 */
import { resolve } from 'node:path';
import { Command } from 'commander';
import { readSecretStoreConfig } from '../auth/secrets/config.js';
import { readSecretFile, readSecretStream } from '../auth/secrets/read-file.js';
import { storeNameOf } from '../auth/secrets/resolver.js';
import { MAX_SECRET_BYTES, USER_SECRET_PREFIX, type EncryptedSecrets } from '../auth/secrets/secret-store.js';
import { setupSecrets } from '../auth/secrets/setup.js';
import { ConfigError, formatIssue, loadConfigFile } from '../config/load.js';

/** Same rule as `{secret: NAME}` in SecretRef. */
const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_./-]{0,127}$/;

/** What the commands touch; tests replace parts of it. */
export interface SecretsCliDeps {
  /** Opens the secret store the config file describes. */
  open(configPath: string): Promise<{ secrets: EncryptedSecrets; close(): Promise<void> }>;
  stdin: AsyncIterable<Buffer | string>;
  out(line: string): void;
  err(line: string): void;
  setExitCode(code: number): void;
}

/** Opens the SQLite store and the keyring the config file names, the way `start` does. */
async function openFromConfig(configPath: string): Promise<{ secrets: EncryptedSecrets; close(): Promise<void> }> {
  const snap = loadConfigFile(resolve(configPath));
  if (snap.gateway.storage !== 'sqlite') {
    throw new Error('gateway.storage is "memory": its secrets die with the process, so there is nothing to manage (use storage: sqlite)');
  }
  // Loaded lazily: `--help` must not load the SQLite driver.
  const { openStore } = await import('../storage/index.js');
  const store = await openStore({ kind: 'sqlite', dataDir: snap.gateway.dataDir });
  try {
    const { secrets } = await setupSecrets({
      store: store.secrets,
      storage: 'sqlite',
      dataDir: snap.gateway.dataDir,
      configDir: snap.configDir,
      config: readSecretStoreConfig(snap.config),
    });
    return { secrets, close: () => store.close() };
  } catch (e) {
    await store.close().catch(() => undefined);
    throw e;
  }
}

const defaults: SecretsCliDeps = {
  open: openFromConfig,
  stdin: process.stdin,
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
  setExitCode: (c) => {
    process.exitCode = c;
  },
};

function checkName(name: string): void {
  if (!NAME.test(name)) throw new Error(`invalid secret name "${name.slice(0, 64)}": letters, digits, "_", ".", "/" and "-", at most 128, starting with a letter or digit`);
}

/** Builds the `secrets` command group (the caller adds it to the program). */
export function secretsCommand(overrides: Partial<SecretsCliDeps> = {}): Command {
  const d: SecretsCliDeps = { ...defaults, ...overrides };

  /** Runs one command against an open store, turning every failure into exit code 1. */
  const run = async (configPath: string, body: (s: EncryptedSecrets) => Promise<number | void>): Promise<void> => {
    try {
      const h = await d.open(configPath);
      try {
        d.setExitCode((await body(h.secrets)) ?? 0);
      } finally {
        await h.close();
      }
    } catch (e) {
      if (e instanceof ConfigError) for (const i of e.issues) d.err(formatIssue(i));
      else d.err(`error: ${e instanceof Error ? e.message : String(e)}`);
      d.setExitCode(1);
    }
  };

  const cmd = new Command('secrets').description("Manage the gateway's encrypted secret store (values for {secret: NAME} references).");
  const configOption = ['-c, --config <file>', 'the YAML config file', './portcullis.yaml'] as const;

  cmd
    .command('set')
    .description('Store a secret, read from stdin or a file (never from the command line).')
    .argument('<name>', 'the secret name, as used in {secret: NAME}')
    .option(...configOption)
    .option('--from-stdin', 'read the value from stdin (one trailing newline is dropped)')
    .option('--from-file <path>', 'read the value from a file (one trailing newline is dropped)')
    .action(async (name: string, opts: { config: string; fromStdin?: boolean; fromFile?: string }) => {
      await run(opts.config, async (secrets) => {
        checkName(name);
        if (!!opts.fromStdin === (opts.fromFile !== undefined)) {
          throw new Error('give exactly one of --from-stdin or --from-file (values are never taken from the command line)');
        }
        const value = opts.fromFile !== undefined ? await readSecretFile(resolve(opts.fromFile), MAX_SECRET_BYTES) : await readSecretStream(d.stdin, MAX_SECRET_BYTES);
        await secrets.set(storeNameOf(name), value);
        d.out(`stored secret ${name} (key ${secrets.currentKeyId})`);
      });
    });

  cmd
    .command('list')
    .description('List secret names with the key each is sealed under (values are never shown).')
    .option(...configOption)
    .option('--all', 'include internal records (e.g. upstream OAuth tokens), shown with their full names')
    .action(async (opts: { config: string; all?: boolean }) => {
      await run(opts.config, async (secrets) => {
        const rows = await secrets.entries(opts.all ? undefined : USER_SECRET_PREFIX);
        for (const r of rows) {
          const name = opts.all ? r.name : r.name.slice(USER_SECRET_PREFIX.length);
          d.out(`${name}\tkey=${r.keyId}\tupdated=${r.updatedAt.toISOString()}`);
        }
      });
    });

  cmd
    .command('delete')
    .description('Delete a secret.')
    .argument('<name>', 'the secret name')
    .option(...configOption)
    .action(async (name: string, opts: { config: string }) => {
      await run(opts.config, async (secrets) => {
        checkName(name);
        if (!(await secrets.delete(storeNameOf(name)))) {
          d.err(`error: no secret named ${name}`);
          return 1;
        }
        d.out(`deleted secret ${name}`);
      });
    });

  cmd
    .command('rotate')
    .description('Re-seal every record under the current key (secretStore.key); older keys must still be listed in previousKeys.')
    .option(...configOption)
    .action(async (opts: { config: string }) => {
      await run(opts.config, async (secrets) => {
        const n = await secrets.rotate();
        d.out(`re-sealed ${n} record${n === 1 ? '' : 's'} under key ${secrets.currentKeyId}`);
      });
    });

  return cmd;
}
