/**
 * `portcullis upstreams authorize NAME`: an operator authorizes the gateway's own identity
 * ('@gateway') at an upstream whose `auth` is `{type: oauth}`. The command listens for the
 * authorization callback on 127.0.0.1 (a loopback redirect URI, RFC 8252), prints the
 * authorization URL (`Open: <url>`, one line on stdout; it is never opened through a shell),
 * waits for the browser to come back, and seals the tokens in the secret store of the config's
 * data directory, where the running gateway reads (and refreshes) them.
 * Exit codes: 0 authorized, 1 failed (one `error:` line on stderr).
 */
import { createServer, type Server } from 'node:http';
import { resolve } from 'node:path';
import { Command } from 'commander';
import { UpstreamOAuth } from '../auth/upstream-oauth/client.js';
import { OAuthUpstreamAuth } from '../auth/upstream-oauth/config.js';
import { FlowRegistry } from '../auth/upstream-oauth/flows.js';
import { sendResultPage } from '../auth/upstream-oauth/routes.js';
import { GATEWAY_PRINCIPAL } from '../auth/upstream-oauth/tickets.js';
import type { ResolveSecret } from '../auth/secrets/ref.js';
import type { EncryptedSecrets } from '../auth/secrets/secret-store.js';
import { ConfigError, formatIssue, loadConfigFile } from '../config/load.js';
import { parseDuration } from '../config/units.js';

const MIN_TIMEOUT_MS = 5_000;
const MAX_TIMEOUT_MS = 60 * 60_000;
const CALLBACK = '/callback';

/** The upstream to authorize and where its tokens go. */
export interface AuthorizeContext {
  upstream: { name: string; url: string; auth: OAuthUpstreamAuth };
  secrets: EncryptedSecrets;
  resolveSecret: ResolveSecret;
  close(): Promise<void>;
}

/** What the command touches; tests replace parts of it. */
export interface UpstreamsCliDeps {
  open(configPath: string, upstream: string): Promise<AuthorizeContext>;
  out(line: string): void;
  err(line: string): void;
  setExitCode(code: number): void;
}

/** Opens the SQLite store and keyring of the config, the way `start` does, and finds the upstream. */
async function openFromConfig(configPath: string, name: string): Promise<AuthorizeContext> {
  const snap = loadConfigFile(resolve(configPath));
  if (snap.gateway.storage !== 'sqlite') {
    throw new Error('gateway.storage is "memory": tokens stored by this command would vanish when it exits, and the gateway could not read them (use storage: sqlite)');
  }
  const u = snap.upstreams.find((x) => x.name === name);
  if (!u) throw new Error(`no enabled upstream named "${name.slice(0, 64)}" in ${configPath}`);
  if (u.kind !== 'streamable-http' && u.kind !== 'sse') throw new Error(`upstream ${name} is a ${u.kind} upstream; OAuth applies to streamable-http and sse upstreams`);
  const parsed = OAuthUpstreamAuth.safeParse((u as { auth?: unknown }).auth);
  if (!parsed.success) throw new Error(`upstream ${name} does not use auth: {type: oauth}`);
  // Loaded lazily: `--help` must not load the SQLite driver.
  const [{ openStore }, { setupSecrets }, { readSecretStoreConfig }] = await Promise.all([
    import('../storage/index.js'),
    import('../auth/secrets/setup.js'),
    import('../auth/secrets/config.js'),
  ]);
  const store = await openStore({ kind: 'sqlite', dataDir: snap.gateway.dataDir });
  try {
    const { secrets, resolveSecret } = await setupSecrets({
      store: store.secrets,
      storage: 'sqlite',
      dataDir: snap.gateway.dataDir,
      configDir: snap.configDir,
      config: readSecretStoreConfig(snap.config),
    });
    return { upstream: { name, url: u.url, auth: parsed.data }, secrets, resolveSecret, close: () => store.close() };
  } catch (e) {
    await store.close().catch(() => undefined);
    throw e;
  }
}

const defaults: UpstreamsCliDeps = {
  open: openFromConfig,
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
  setExitCode: (c) => {
    process.exitCode = c;
  },
};

/** Parses `--timeout` (a Duration such as 300s or 5m), bounded to 5 s .. 1 h. */
export function parseTimeout(text: string): number {
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch {
    throw new Error(`--timeout "${text.slice(0, 40)}": use a duration like 300s or 5m`);
  }
  if (ms < MIN_TIMEOUT_MS || ms > MAX_TIMEOUT_MS) throw new Error('--timeout must lie between 5s and 1h');
  return ms;
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', fail);
      ok();
    });
  });
  return (server.address() as { port: number }).port;
}

/**
 * Serves the loopback callback until one authorization completes (resolves), the flow this run
 * started fails (rejects), or the deadline passes (rejects). Stray requests (other paths, unknown
 * state) get a page and do not end the wait.
 */
function awaitCallback(server: Server, oauth: UpstreamOAuth, flows: FlowRegistry, timeoutMs: number): Promise<void> {
  return new Promise<void>((ok, fail) => {
    let settled = false;
    const finish = (e?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (e) fail(e);
      else ok();
    };
    const timer = setTimeout(() => finish(new Error(`no authorization callback within ${Math.round(timeoutMs / 1000)}s`)), timeoutMs);
    server.on('request', (req, res) => {
      const u = new URL(req.url ?? '/', 'http://127.0.0.1');
      if (req.method !== 'GET' || u.pathname !== CALLBACK || (req.url ?? '').length > 8192) return sendResultPage(res, 404, 'Not found', 'Not found.');
      if (settled || !flows.upstreamOf(u.searchParams.get('state') ?? '')) return sendResultPage(res, 400, 'Authorization failed', 'Unknown, expired or already used authorization request.');
      oauth.complete(u.searchParams).then(
        () => {
          sendResultPage(res, 200, `Authorized ${oauth.upstream}`, `Authorized ${oauth.upstream}; you can close this window.`);
          finish();
        },
        (e: unknown) => {
          sendResultPage(res, 400, 'Authorization failed', e instanceof Error ? e.message : 'The authorization could not be completed.');
          finish(e instanceof Error ? e : new Error(String(e)));
        },
      );
    });
  });
}

/** Builds the `upstreams` command group (the caller adds it to the program). */
export function upstreamsCommand(overrides: Partial<UpstreamsCliDeps> = {}): Command {
  const d: UpstreamsCliDeps = { ...defaults, ...overrides };
  const cmd = new Command('upstreams').description('Work with the configured upstreams.');

  cmd
    .command('authorize')
    .description("Authorize the gateway's own identity at an upstream with `auth: {type: oauth}` (OAuth authorization code flow; tokens are sealed in the secret store).")
    .argument('<name>', 'the upstream name')
    .option('-c, --config <file>', 'the YAML config file', './portcullis.yaml')
    .option('--print-url-only', 'print only the `Open:` line and the result (no instructions on stderr)')
    .option('--timeout <duration>', 'how long to wait for the browser to come back (5s .. 1h)', '300s')
    .action(async (name: string, opts: { config: string; printUrlOnly?: boolean; timeout: string }) => {
      const server = createServer();
      let ctx: AuthorizeContext | undefined;
      let oauth: UpstreamOAuth | undefined;
      try {
        const timeoutMs = parseTimeout(opts.timeout);
        ctx = await d.open(opts.config, name);
        const auth = ctx.upstream.auth;
        const port = await listen(server);
        const redirectUri = `http://127.0.0.1:${port}${CALLBACK}`;
        const flows = new FlowRegistry();
        const clientSecret = auth.clientSecret ? await ctx.resolveSecret(auth.clientSecret) : undefined;
        oauth = new UpstreamOAuth({
          upstream: ctx.upstream.name,
          serverUrl: ctx.upstream.url,
          redirectUri,
          secrets: ctx.secrets,
          clientName: auth.clientName,
          allowPrivateNetwork: auth.allowPrivateNetwork,
          flows,
          ...(auth.scope ? { scope: auth.scope } : {}),
          ...(auth.clientId ? { clientId: auth.clientId } : {}),
          ...(clientSecret ? { clientSecret } : {}),
          ...(auth.clientMetadataUrl ? { clientMetadataUrl: auth.clientMetadataUrl } : {}),
        });
        // The upstream's 401 challenge names the scope and metadata location to use.
        await oauth.probe(GATEWAY_PRINCIPAL).catch((e: unknown) => {
          if (!opts.printUrlOnly) d.err(`warning: could not reach ${ctx?.upstream.url} without credentials (${e instanceof Error ? e.message : String(e)})`);
        });
        const url = await oauth.begin(GATEWAY_PRINCIPAL);
        if (!opts.printUrlOnly) {
          d.err(`Open the URL below in a browser, sign in and approve. This command waits ${Math.round(timeoutMs / 1000)}s for the redirect to ${redirectUri}`);
          d.err('(the browser must run on this machine, or forward that port to it).');
        }
        d.out(`Open: ${url}`);
        await awaitCallback(server, oauth, flows, timeoutMs);
        d.out('authorized');
        d.setExitCode(0);
      } catch (e) {
        if (e instanceof ConfigError) for (const i of e.issues) d.err(formatIssue(i));
        else d.err(`error: ${e instanceof Error ? e.message : String(e)}`);
        d.setExitCode(1);
      } finally {
        server.closeAllConnections();
        await new Promise<void>((r) => server.close(() => r()));
        await oauth?.close();
        await ctx?.close();
      }
    });

  return cmd;
}
