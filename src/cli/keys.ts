/**
 * `portcullis keys`: create, list and revoke gateway API keys in the store the config file names.
 * A new key is printed once, on stdout, and never again (only its keyed hash is stored). The
 * key-hash key is loaded exactly as the gateway loads it, so keys made here verify there.
 * Exit codes: 0 done, 1 failed (one `error:` line on stderr).
 */
import { resolve } from 'node:path';
import { Command } from 'commander';
import { createApiKey, parseApiKey } from '../auth/keys/api-key.js';
import { loadKeyHashKey } from '../auth/keys/hash-key.js';
import { SecretRef, type ResolveSecret } from '../auth/secrets/ref.js';
import { ConfigError, formatIssue, loadConfigFile } from '../config/load.js';
import type { Snapshot } from '../config/compile.js';
import type { Store } from '../storage/ports.js';
import { publicKeyView } from '../auth/keys/view.js';

/** An open store plus what the identity commands need from the config. */
export interface IdentityContext {
  store: Store;
  /** Loads the key-hash key the gateway would use (only `keys create` needs it). */
  hashKey(): Promise<Buffer>;
  close(): Promise<void>;
}

/** What the commands touch; tests replace parts of it. */
export interface IdentityCliDeps {
  /** Opens the store the config file describes. */
  open(configPath: string): Promise<IdentityContext>;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  out(line: string): void;
  err(line: string): void;
  setExitCode(code: number): void;
  now(): Date;
}

/** `auth.apiKeys.hashKey` from a parsed config of any shape; absent (or `auth: none`) is undefined. */
export function readHashKeyRef(config: unknown): SecretRef | undefined {
  const auth = typeof config === 'object' && config !== null ? (config as { auth?: unknown }).auth : undefined;
  const apiKeys = typeof auth === 'object' && auth !== null ? (auth as { apiKeys?: unknown }).apiKeys : undefined;
  const raw = typeof apiKeys === 'object' && apiKeys !== null ? (apiKeys as { hashKey?: unknown }).hashKey : undefined;
  return raw === undefined ? undefined : SecretRef.parse(raw);
}

/** The resolver for the hash-key reference: env and file directly, `{secret}` through the encrypted store. */
async function resolverFor(ref: SecretRef, snap: Snapshot, store: Store): Promise<ResolveSecret> {
  const { createSecretResolver } = await import('../auth/secrets/resolver.js');
  if (!('secret' in ref)) return createSecretResolver({ configDir: snap.configDir });
  const [{ setupSecrets }, { readSecretStoreConfig }] = await Promise.all([import('../auth/secrets/setup.js'), import('../auth/secrets/config.js')]);
  const { resolveSecret } = await setupSecrets({
    store: store.secrets,
    storage: 'sqlite',
    dataDir: snap.gateway.dataDir,
    configDir: snap.configDir,
    config: readSecretStoreConfig(snap.config),
  });
  return resolveSecret;
}

/** Opens the SQLite store the config names, the way `start` does; refuses `storage: memory`. */
export async function openIdentityContext(configPath: string): Promise<IdentityContext> {
  const snap = loadConfigFile(resolve(configPath));
  if (snap.gateway.storage !== 'sqlite') {
    throw new Error('gateway.storage is "memory": keys and users made here would vanish when this command exits (use storage: sqlite)');
  }
  const ref = readHashKeyRef(snap.config);
  // Loaded lazily: `--help` must not load the SQLite driver.
  const { openStore } = await import('../storage/index.js');
  const store = await openStore({ kind: 'sqlite', dataDir: snap.gateway.dataDir });
  return {
    store,
    async hashKey() {
      const resolveSecret = ref ? await resolverFor(ref, snap, store) : undefined;
      return loadKeyHashKey({ dataDir: snap.gateway.dataDir, storage: 'sqlite', ...(ref ? { ref } : {}), ...(resolveSecret ? { resolveSecret } : {}) });
    },
    close: () => store.close(),
  };
}

/** The process's own streams and exit code. */
export const processDeps: IdentityCliDeps = {
  open: openIdentityContext,
  stdin: process.stdin,
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
  setExitCode: (c) => {
    process.exitCode = c;
  },
  now: () => new Date(),
};

/** Runs one command against an open context, turning every failure into exit code 1. */
export async function runIdentity(d: IdentityCliDeps, configPath: string, body: (ctx: IdentityContext) => Promise<number | void>): Promise<void> {
  try {
    const ctx = await d.open(configPath);
    try {
      d.setExitCode((await body(ctx)) ?? 0);
    } finally {
      await ctx.close();
    }
  } catch (e) {
    if (e instanceof ConfigError) for (const i of e.issues) d.err(formatIssue(i));
    else d.err(`error: ${e instanceof Error ? e.message : String(e)}`);
    d.setExitCode(1);
  }
}

/** Commander collector for repeatable options. */
export const collect = (value: string, previous: string[]): string[] => [...previous, value];

// Key ids are 12 base32 characters; the looser rule only decides what is safe to echo back.
const ID_ARG_RE = /^[a-zA-Z0-9]{1,64}$/;
const RELATIVE_RE = /^([1-9][0-9]{0,4})([hdw])$/;
const ISO_DATE_RE = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:\d{2}))?$/;
const UNIT_MS = { h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 } as const;

/** Parses `--expires`: `12h`, `30d`, `2w`, or an ISO date (`2027-01-31`, or a date-time with `Z`/offset). */
export function parseExpires(text: string, now: Date): Date {
  const rel = RELATIVE_RE.exec(text);
  const at = rel ? new Date(now.getTime() + Number(rel[1]) * UNIT_MS[rel[2] as keyof typeof UNIT_MS]) : ISO_DATE_RE.test(text) ? new Date(text) : undefined;
  if (!at || Number.isNaN(at.getTime())) throw new Error(`--expires "${text.slice(0, 40)}": use a duration like 12h, 30d, 2w or an ISO date like 2027-01-31`);
  if (at.getTime() <= now.getTime()) throw new Error('--expires must lie in the future');
  return at;
}

/** Left-aligned columns separated by two spaces; the last column is not padded. */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)];
}

const configOption = ['-c, --config <file>', 'the YAML config file', './portcullis.yaml'] as const;

/** Builds the `keys` command group (the caller adds it to the program). */
export function keysCommand(overrides: Partial<IdentityCliDeps> = {}): Command {
  const d: IdentityCliDeps = { ...processDeps, ...overrides };
  const cmd = new Command('keys').description('Manage API keys for clients of the gateway.');

  cmd
    .command('create')
    .description('Create an API key and print it once on stdout (it cannot be shown again).')
    .option(...configOption)
    .requiredOption('--name <name>', 'a label for admins, e.g. "ci-bot"')
    .option('--tenant <tenant>', 'the tenant the key belongs to', 'default')
    .option('--role <role>', 'a role the key carries (repeatable)', collect, [])
    .option('--server <name>', 'limit the key to this virtual server (repeatable); none: every endpoint its roles allow', collect, [])
    .option('--expires <when>', 'expiry: a duration (12h, 30d, 2w) or an ISO date; none: never')
    .option('--json', 'print {id, key, ...} as JSON instead')
    .action(async (opts: { config: string; name: string; tenant: string; role: string[]; server: string[]; expires?: string; json?: boolean }) => {
      await runIdentity(d, opts.config, async (ctx) => {
        const now = d.now();
        const expiresAt = opts.expires !== undefined ? parseExpires(opts.expires, now) : undefined;
        const { key, record } = await createApiKey(ctx.store.apiKeys, await ctx.hashKey(), {
          name: opts.name,
          tenant: opts.tenant,
          roles: opts.role,
          virtualServers: opts.server,
          now,
          ...(expiresAt ? { expiresAt } : {}),
        });
        if (opts.json) d.out(JSON.stringify({ ...publicKeyView(record, now), key }));
        else d.out(key);
        d.err(`created API key ${record.id} (tenant ${record.tenant}). Store the key now: it cannot be shown again.`);
      });
    });

  cmd
    .command('list')
    .description('List API keys (never their secrets or hashes).')
    .option(...configOption)
    .option('--tenant <tenant>', 'only this tenant')
    .option('--json', 'print a JSON array')
    .action(async (opts: { config: string; tenant?: string; json?: boolean }) => {
      await runIdentity(d, opts.config, async (ctx) => {
        const now = d.now();
        const keys = (await ctx.store.apiKeys.list(opts.tenant)).map((k) => publicKeyView(k, now));
        if (opts.json) {
          d.out(JSON.stringify(keys));
          return;
        }
        const rows = keys.map((k) => [
          String(k.id),
          String(k.status),
          String(k.tenant),
          (k.roles as string[]).join(',') || '-',
          (k.virtualServers as string[]).join(',') || '*',
          String(k.createdAt),
          (k.expiresAt as string | null) ?? 'never',
          (k.lastUsedAt as string | null) ?? 'never',
          JSON.stringify(k.name),
        ]);
        for (const l of table(['ID', 'STATUS', 'TENANT', 'ROLES', 'SERVERS', 'CREATED', 'EXPIRES', 'LAST USED', 'NAME'], rows)) d.out(l);
      });
    });

  cmd
    .command('revoke')
    .description('Revoke an API key; the gateway refuses it from its next request on.')
    .argument('<id>', 'the key id as shown by keys list (or the whole key)')
    .option(...configOption)
    .action(async (id: string, opts: { config: string }) => {
      await runIdentity(d, opts.config, async (ctx) => {
        // A whole key pasted in (e.g. one that leaked) revokes that key; its secret is never echoed.
        const keyId = parseApiKey(id)?.id ?? id;
        if (!ID_ARG_RE.test(keyId) || !(await ctx.store.apiKeys.revoke(keyId, d.now()))) {
          d.err(`error: no API key with id ${ID_ARG_RE.test(keyId) ? keyId : '(not a key id)'}`);
          return 1;
        }
        d.out(`revoked API key ${keyId}`);
      });
    });

  return cmd;
}
