/**
 * The whole OAuth flow with a real MCP OAuth client: `mcp-remote` discovers the gateway's
 * authorization server (RFC 9728 → RFC 8414), registers itself (RFC 7591), runs PKCE S256 with a
 * resource indicator; headless Chromium signs in and approves consent; then the client lists and
 * calls tools through the gateway. A second run reuses the stored tokens without a browser.
 *
 * Needs Debian's chromium at /usr/bin/chromium. Without it the test is skipped with that reason,
 * unless PORTCULLIS_TEST_REQUIRE_CHROMIUM=1 (set by .ci/run), which makes its absence a failure.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startGateway, repoPath, tsNode, type TestGateway } from '../helpers/gateway.js';
import { addUser } from '../../src/auth/users/users.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
const required = process.env.PORTCULLIS_TEST_REQUIRE_CHROMIUM === '1';
const skip = !haveChromium && !required ? `no ${CHROMIUM} (apt-get install chromium); set PORTCULLIS_TEST_REQUIRE_CHROMIUM=1 to fail instead` : false;

const WATCHDOG_MS = 90_000;
const scratch = mkdtempSync(join(tmpdir(), 'portcullis-oauth-'));
const children: ChildProcess[] = [];
let gw: TestGateway | undefined;

after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await gw?.close();
  rmSync(scratch, { recursive: true, force: true });
});

/** A running mcp-remote: its stderr so far, and JSON-RPC over its stdio. */
interface Remote {
  proc: ChildProcess;
  stderr: () => string;
  request(id: number, method: string, params: Record<string, unknown>): Promise<Record<string, unknown>>;
}

function startMcpRemote(url: string, configDir: string, urlFile: string): Remote {
  const capture = join(scratch, 'capture-url.sh');
  // mcp-remote opens the authorization URL with $BROWSER; record it for Chromium instead.
  writeFileSync(capture, '#!/bin/sh\nprintf \'%s\\n\' "$1" >> "$MCP_AUTH_URL_FILE"\nexit 0\n');
  chmodSync(capture, 0o755);
  const proc = spawn(process.execPath, [repoPath('node_modules/mcp-remote/dist/proxy.js'), url, '--host', '127.0.0.1', '--auth-timeout', '60', '--transport', 'http-only'], {
    env: { PATH: process.env.PATH ?? '', HOME: scratch, MCP_REMOTE_CONFIG_DIR: configDir, BROWSER: capture, MCP_AUTH_URL_FILE: urlFile },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.push(proc);
  let err = '';
  proc.stderr?.on('data', (c: Buffer) => (err += c.toString('utf8')));
  let out = '';
  const waiting = new Map<number, (m: Record<string, unknown>) => void>();
  proc.stdout?.on('data', (c: Buffer) => {
    out += c.toString('utf8');
    let nl;
    while ((nl = out.indexOf('\n')) >= 0) {
      const line = out.slice(0, nl).trim();
      out = out.slice(nl + 1);
      if (!line) continue;
      const msg = JSON.parse(line) as Record<string, unknown>;
      if (typeof msg.id === 'number') waiting.get(msg.id)?.(msg);
    }
  });
  return {
    proc,
    stderr: () => err,
    request(id, method, params) {
      return new Promise((resolve) => {
        waiting.set(id, resolve);
        proc.stdin?.write(`${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n`);
      });
    },
  };
}

async function until<T>(what: string, probe: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function session(remote: Remote): Promise<void> {
  const init = await remote.request(1, 'initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'oauth-e2e', version: '1.0.0' } });
  assert.ok(init.result, JSON.stringify(init));
  remote.proc.stdin?.write(`${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' })}\n`);
  const list = (await remote.request(2, 'tools/list', {})) as { result?: { tools: { name: string }[] } };
  assert.ok(list.result?.tools.some((t) => t.name === 'demo__echo'), JSON.stringify(list));
  const call = (await remote.request(3, 'tools/call', { name: 'demo__echo', arguments: { text: 'via oauth' } })) as { result?: { content: { text: string }[] } };
  assert.equal(call.result?.content[0]?.text, 'via oauth');
}

test('mcp-remote completes discovery, DCR, PKCE, consent in Chromium, then lists and calls tools', { skip, timeout: WATCHDOG_MS }, async () => {
  assert.ok(haveChromium, `${CHROMIUM} is required (PORTCULLIS_TEST_REQUIRE_CHROMIUM=1)`);
  gw = await startGateway(
    [
      'gateway: { storage: memory }',
      'log: { level: silent }',
      'auth:',
      '  authorizationServer: { enabled: true }',
      'upstreams:',
      `  - { name: demo, kind: stdio, command: ${JSON.stringify(process.execPath)}, args: ${JSON.stringify(tsNode('src/demo/echo-server.ts'))}, cwd: ${JSON.stringify(repoPath())} }`,
    ].join('\n'),
  );
  await gw.waitHealthy(['demo']);
  await addUser(gw.store.users, { username: 'alice', tenant: 'default', roles: ['dev'], password: 'wonderland-42' });

  const configDir = join(scratch, 'mcp-auth');
  const urlFile = join(scratch, 'auth-url.txt');
  const remote = startMcpRemote(`${gw.url}/mcp`, configDir, urlFile);
  const authUrl = await until('the authorization URL', () => (existsSync(urlFile) ? readFileSync(urlFile, 'utf8').split('\n')[0] || undefined : undefined), 30_000);
  assert.ok(authUrl.startsWith(`${gw.url}/`), authUrl);

  const ctx = await chromium.launchPersistentContext(join(scratch, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    env: { ...process.env, XDG_CONFIG_HOME: join(scratch, 'xdg') },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    await page.goto(authUrl);
    await page.fill('#username', 'alice');
    await page.fill('#password', 'wonderland-42');
    await Promise.all([page.waitForURL(/\/interaction\//), page.click('#login')]);
    // The consent page names the client and what it asks for.
    const consent = await page.content();
    assert.match(consent, /mcp:tools/);
    await page.click('#approve');
    await page.waitForURL(/\/oauth\/callback\?/, { timeout: 20_000 });
  } finally {
    await ctx.close();
  }
  await until('the proxy to be established', () => (/Proxy established/.test(remote.stderr()) ? true : undefined), 30_000);
  await session(remote);
  remote.proc.kill('SIGTERM');

  // Second process, same token store: no browser this time.
  rmSync(urlFile, { force: true });
  const again = startMcpRemote(`${gw.url}/mcp`, configDir, urlFile);
  await until('the second proxy to be established', () => (/Proxy established/.test(again.stderr()) ? true : undefined), 30_000);
  await session(again);
  assert.equal(existsSync(urlFile), false, 'the second run must not ask for a browser');
  again.proc.kill('SIGTERM');
});
