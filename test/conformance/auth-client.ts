/**
 * The client the conformance suite's `auth/*` scenarios drive (`conformance client --command
 * "node --import tsx test/conformance/auth-client.ts"`; the suite appends the mock server URL).
 * It runs the gateway's own upstream OAuth client (src/auth/upstream-oauth, `UpstreamOAuth`), not
 * a separate implementation: an in-memory sealed secret store, the egress guard with
 * allowPrivateNetwork (the mock servers listen on localhost), and the gateway identity '@gateway'.
 *
 * The MCP session is an SDK v2 client (era negotiation `auto`: the 0.1.16 suite's mock servers
 * speak 2025-11-25, the alpha line's also 2026-07-28) whose fetch adds `await oauth.headers('@gateway')`; a 401 or
 * a 403 insufficient_scope goes to `oauth.onUnauthorized`, and when that says a new authorization
 * may help, the script plays the user agent: `oauth.begin()`, then the authorization URL is
 * fetched with redirects not followed, Location hops are followed by hand (bounded) until one
 * reaches the redirect URI, which is this script's own loopback callback server; its handler
 * calls `oauth.complete()`. Then the request is retried. At most 3 authorizations per run.
 *
 * Credentials the suite hands over in MCP_CONFORMANCE_CONTEXT (`client_id`, `client_secret`) are
 * used as a pre-registered client. Exit 0 after initialize + tools/list + one tools/call; 1 on
 * any failure (some scenarios expect the client to give up).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { UpstreamOAuth } from '../../src/auth/upstream-oauth/client.js';
import { GatewayError } from '../../src/pipeline/errors.js';
import { EncryptedSecrets } from '../../src/auth/secrets/secret-store.js';
import { createKeyring, keyFromBytes } from '../../src/auth/secrets/keyring.js';
import { openMemoryStore } from '../../src/storage/memory/store.js';

const KEY = '@gateway';
/** The CIMD URL the suite's `auth/basic-cimd` scenario expects as client_id. */
const CIMD_URL = 'https://conformance-test.local/client-metadata.json';
const MAX_AUTHORIZATIONS = 3;
const MAX_HOPS = 10;
const HOP_TIMEOUT_MS = 10_000;

function log(msg: string): void {
  process.stderr.write(`[auth-client] ${msg}\n`);
}

interface Context {
  client_id?: string;
  client_secret?: string;
}

function readContext(): Context {
  const raw = process.env.MCP_CONFORMANCE_CONTEXT;
  if (!raw) return {};
  try {
    const c = JSON.parse(raw) as Record<string, unknown>;
    return {
      ...(typeof c.client_id === 'string' ? { client_id: c.client_id } : {}),
      ...(typeof c.client_secret === 'string' ? { client_secret: c.client_secret } : {}),
    };
  } catch {
    return {};
  }
}

/** The loopback callback server: each request to /callback completes the flow through UpstreamOAuth. */
async function startCallbackServer(getOAuth: () => UpstreamOAuth): Promise<{ server: Server; redirectUri: string; last: () => Promise<void> }> {
  let pending: Promise<void> = Promise.resolve();
  const server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (req.method !== 'GET' || u.pathname !== '/callback') {
      res.writeHead(404).end();
      return;
    }
    pending = getOAuth()
      .complete(u.searchParams)
      .then(() => {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('authorized');
      })
      .catch((e: unknown) => {
        res.writeHead(400, { 'content-type': 'text/plain' }).end('refused');
        throw e;
      });
    // Observed by `last()`; never left unhandled.
    pending.catch(() => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { server, redirectUri: `http://127.0.0.1:${port}/callback`, last: () => pending };
}

/** The user agent: follows the authorization URL's redirects by hand until the callback is reached. */
async function playUserAgent(start: string, redirectUri: string, callbackDone: () => Promise<void>): Promise<void> {
  const target = new URL(redirectUri);
  let url = new URL(start);
  for (let hop = 0; hop < MAX_HOPS; hop++) {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`refusing to follow a ${url.protocol} URL`);
    const atCallback = url.origin === target.origin && url.pathname === target.pathname;
    const res = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(HOP_TIMEOUT_MS) });
    await res.body?.cancel().catch(() => undefined);
    if (atCallback) {
      await callbackDone();
      return;
    }
    const loc = res.headers.get('location');
    if (res.status < 300 || res.status > 399 || !loc) throw new Error(`authorization stopped at ${url.origin}${url.pathname} with HTTP ${res.status}`);
    url = new URL(loc, url);
  }
  throw new Error('too many redirects before the callback');
}

async function main(): Promise<void> {
  const serverUrl = process.argv[2];
  if (!serverUrl) throw new Error('usage: auth-client.ts <server-url>');
  const ctx = readContext();
  const secrets = new EncryptedSecrets(openMemoryStore().secrets, createKeyring(keyFromBytes(randomBytes(32))));
  // The callback server exists before the client (its port is the redirect URI) and reaches it late.
  const holder: { oauth?: UpstreamOAuth } = {};
  const cb = await startCallbackServer(() => holder.oauth as UpstreamOAuth);
  const o = new UpstreamOAuth({
    upstream: 'conformance',
    serverUrl,
    redirectUri: cb.redirectUri,
    secrets,
    clientName: 'Portcullis conformance client',
    allowPrivateNetwork: true,
    ...(ctx.client_id ? { clientId: ctx.client_id, ...(ctx.client_secret ? { clientSecret: ctx.client_secret } : {}) } : { clientMetadataUrl: CIMD_URL }),
    logger: {
      info: () => undefined,
      warn: (o: object, m?: string) => log(`${m ?? ''} ${JSON.stringify(o)}`),
      error: (o: object, m?: string) => log(`${m ?? ''} ${JSON.stringify(o)}`),
    },
  });
  holder.oauth = o;
  let authorizations = 0;

  const authorize = async (): Promise<void> => {
    authorizations++;
    const url = await o.begin(KEY);
    log(`authorization ${authorizations}: ${new URL(url).origin}${new URL(url).pathname} scope=${new URL(url).searchParams.get('scope') ?? '(none)'}`);
    await playUserAgent(url, cb.redirectUri, cb.last);
  };

  const authFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    for (;;) {
      const headers = new Headers(init?.headers);
      try {
        for (const [k, v] of Object.entries(await o.headers(KEY))) headers.set(k, v);
      } catch (e) {
        if (!(e instanceof GatewayError && e.code === 'ERR_UPSTREAM_AUTH_REQUIRED')) throw e;
      }
      const res = await fetch(input, { ...init, headers });
      if (res.status !== 401 && res.status !== 403) return res;
      const decision = await o.onUnauthorized(KEY, res.headers.get('www-authenticate'), res.status);
      if (!decision.reauthorize || authorizations >= MAX_AUTHORIZATIONS) {
        log(`giving up after HTTP ${res.status} (authorizations: ${authorizations})`);
        return res;
      }
      await res.body?.cancel().catch(() => undefined);
      await authorize();
    }
  };

  const client = new Client({ name: 'portcullis-auth-conformance', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
  const transport = new StreamableHTTPClientTransport(new URL(serverUrl), { fetch: authFetch });
  try {
    await client.connect(transport);
    const { tools } = await client.listTools();
    log(`tools: ${tools.map((t) => t.name).join(', ')}`);
    const first = tools[0];
    if (first) await client.callTool({ name: first.name, arguments: {} });
    log('done');
  } finally {
    await client.close().catch(() => undefined);
    await o.close();
    cb.server.closeAllConnections();
    await new Promise<void>((r) => cb.server.close(() => r()));
  }
}

const watchdog = setTimeout(() => {
  log('timed out');
  process.exit(1);
}, 25_000);
watchdog.unref();

main().then(
  () => process.exit(0),
  (e: unknown) => {
    log(`failed: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    process.exit(1);
  },
);
