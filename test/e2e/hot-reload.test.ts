/**
 * Hot reload and health at the wire: a reload that adds an upstream makes its tools appear and
 * tells legacy sessions (`list_changed` on the GET stream); removing one makes its tools vanish
 * and its stdio child exit; a broken edit seen by the real file watcher keeps the old config.
 * Upstreams that are down are `unhealthy` in /readyz while the others keep serving; /readyz is
 * 503 when none serves; /healthz stays 200.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { liveChildPids } from '../../src/upstreams/children.js';
import { repoPath, startGateway, tsNode, type TestGateway } from '../helpers/gateway.js';
import { jsonLines } from '../helpers/json-lines.js';
import { cmdline, until } from '../helpers/procs.js';

// Wire payloads are asserted field by field; a loose type keeps those assertions readable.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = any;

const LEGACY = '2025-11-25';
const MODERN = '2026-07-28';
const META = { 'io.modelcontextprotocol/protocolVersion': MODERN, 'io.modelcontextprotocol/clientCapabilities': {} };
const JSON_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every 50 ms until it returns a value, for at most `ms`. */
/** A stdio mock upstream; `marker` is an extra argv item so a test can tell its process apart. */
const stdioMock = (name: string, marker = name): string => `
  - name: ${name}
    kind: stdio
    command: ${JSON.stringify(process.execPath)}
    args: ${JSON.stringify([...tsNode('test/fixtures/mock-upstream/stdio.ts'), '--marker', marker])}
    cwd: ${JSON.stringify(repoPath())}
    restart: { initialDelay: 50ms, maxRestarts: 2 }`;

const config = (upstreams: string, extra = ''): string => `
gateway: { storage: memory }
log: { level: silent }
upstreams:${upstreams || ' []'}
${extra}`;

async function modern(url: string, method: string, params: Record<string, unknown> = {}): Promise<Loose> {
  const headers: Record<string, string> = { ...JSON_HEADERS, 'mcp-protocol-version': MODERN, 'mcp-method': method };
  if (typeof params.name === 'string') headers['mcp-name'] = params.name;
  const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: { ...params, _meta: META } }), signal: AbortSignal.timeout(15_000) });
  const text = await res.text();
  if (res.headers.get('content-type')?.startsWith('text/event-stream')) {
    const data = text.split('\n').filter((l) => l.startsWith('data:') && l.length > 6);
    return JSON.parse(data[data.length - 1]!.slice(5));
  }
  return JSON.parse(text);
}

async function toolNames(url: string): Promise<string[]> {
  const names: string[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 50; i++) {
    const r = await modern(url, 'tools/list', cursor ? { cursor } : {});
    names.push(...r.result.tools.map((t: { name: string }) => t.name));
    cursor = r.result.nextCursor;
    if (!cursor) break;
  }
  return names;
}

async function echo(url: string, tool: string, text: string): Promise<string | undefined> {
  const r = await modern(url, 'tools/call', { name: tool, arguments: { text } });
  return r.result?.content?.[0]?.text;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function readyz(url: string): Promise<{ status: number; body: { status: string; upstreams: { name: string; health: string; reason: string }[] } }> {
  const r = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5_000) });
  return { status: r.status, body: (await r.json()) as never };
}

const gateways: TestGateway[] = [];
after(async () => {
  await Promise.all(gateways.map((g) => g.close()));
});

async function gateway(yaml: string): Promise<TestGateway> {
  const g = await startGateway(yaml);
  gateways.push(g);
  return g;
}

describe('hot reload (in-process swap)', () => {
  it('adding an upstream makes its tools appear and tells a legacy GET stream', async () => {
    const g = await gateway(config(stdioMock('alpha')));
    await g.waitHealthy(['alpha']);
    assert.ok(!(await toolNames(g.mcp)).some((n) => n.startsWith('beta__')));

    const init = await fetch(g.mcp, {
      method: 'POST',
      headers: JSON_HEADERS,
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: LEGACY, capabilities: {}, clientInfo: { name: 't', version: '1' } } }),
      signal: AbortSignal.timeout(10_000),
    });
    const sid = init.headers.get('mcp-session-id')!;
    await init.text();
    // The GET stream, read raw so the test sees every frame as it arrives.
    let streamText = '';
    const u = new URL(g.mcp);
    const getReq = request({ host: u.hostname, port: u.port, path: u.pathname, method: 'GET', agent: false, headers: { accept: 'text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': LEGACY } });
    const opened = new Promise<number>((resolve, reject) => {
      getReq.on('response', (res) => {
        res.setEncoding('utf8');
        res.on('data', (c: string) => (streamText += c));
        res.on('error', () => undefined);
        resolve(res.statusCode ?? 0);
      });
      getReq.on('error', reject);
    });
    getReq.end();
    try {
      assert.equal(await opened, 200);
      g.reload(config(stdioMock('alpha') + stdioMock('beta')));
      await g.waitHealthy(['alpha', 'beta']);
      const names = await until('beta tools listed', async () => {
        const n = await toolNames(g.mcp);
        return n.includes('beta__echo') ? n : undefined;
      });
      assert.ok(names.includes('alpha__echo'));
      assert.equal(await echo(g.mcp, 'beta__echo', 'from beta'), 'from beta');
      await until('list_changed on the GET stream', () => (streamText.includes('notifications/tools/list_changed') ? true : undefined));
    } finally {
      getReq.destroy();
    }
  });

  it('removing an upstream makes its tools disappear and its child exit', async () => {
    const g = await gateway(config(stdioMock('alpha', 'keep-me') + stdioMock('beta', 'remove-me')));
    await g.waitHealthy(['alpha', 'beta']);
    const betaPid = await until('beta child pid', () => liveChildPids().find((p) => cmdline(p).includes('remove-me')));
    const alphaPid = liveChildPids().find((p) => cmdline(p).includes('keep-me'));
    assert.ok(alphaPid && alive(betaPid));

    g.reload(config(stdioMock('alpha', 'keep-me')));
    await until('beta tools gone', async () => ((await toolNames(g.mcp)).some((n) => n.startsWith('beta__')) ? undefined : true));
    await until('beta child exited', () => (alive(betaPid) ? undefined : true), 10_000);
    assert.ok(alive(alphaPid), 'the kept upstream keeps its process');
    assert.equal(await echo(g.mcp, 'alpha__echo', 'still here'), 'still here');
    const r = await modern(g.mcp, 'tools/call', { name: 'beta__echo', arguments: { text: 'x' } });
    assert.equal(r.error?.code, -32602);
    const ready = await readyz(g.url);
    assert.deepEqual(
      ready.body.upstreams.map((x) => x.name),
      ['alpha'],
    );
  });
});

interface GatewayProcess {
  child: ChildProcess;
  url: string;
  logs: Record<string, unknown>[];
  configPath: string;
  stop(): Promise<void>;
}

/** Runs the real CLI (`start --config`) as a child process and waits for `gateway.listening`. */
async function startProcess(yaml: string): Promise<GatewayProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-reload-'));
  const configPath = join(dir, 'portcullis.yaml');
  writeFileSync(configPath, yaml);
  const child = spawn(process.execPath, ['--import', 'tsx', repoPath('src/cli/index.ts'), 'start', '--config', configPath], {
    cwd: repoPath(),
    env: { ...process.env, PORTCULLIS_PORT: '0', PORTCULLIS_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs = jsonLines(child.stdout!);
  child.stderr!.resume();
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await Promise.race([exited, sleep(15_000)]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const listening = await until('gateway.listening', () => logs.find((l) => l.msg === 'gateway.listening'), 30_000);
    return { child, url: String(listening.url), logs, configPath, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

describe('hot reload (real file watcher)', () => {
  it('a broken edit keeps the old config and logs config.reload_rejected; a fixed edit applies', async () => {
    const p = await startProcess(config(stdioMock('alpha')).replace('level: silent', 'level: info'));
    try {
      await until('alpha healthy', async () => ((await readyz(p.url)).body.upstreams.some((u) => u.health === 'healthy') ? true : undefined), 30_000);
      assert.equal(await echo(`${p.url}/mcp`, 'alpha__echo', 'before'), 'before');
      // The watcher starts with the gateway; give it a moment (bounded).
      await sleep(300);

      writeFileSync(p.configPath, 'upstreams:\n  - name: [this is not\n    kind: nonsense\n');
      const rejected = await until('config.reload_rejected', () => p.logs.find((l) => l.msg === 'config.reload_rejected'));
      assert.ok(rejected);
      assert.equal(await echo(`${p.url}/mcp`, 'alpha__echo', 'after broken edit'), 'after broken edit');

      // A schema-valid YAML with an invalid field is also refused.
      const rejectedBefore = p.logs.filter((l) => l.msg === 'config.reload_rejected').length;
      writeFileSync(p.configPath, config(stdioMock('alpha')).replace('storage: memory', 'storage: memory, port: "not a port"'));
      await until('second rejection', () => (p.logs.filter((l) => l.msg === 'config.reload_rejected').length > rejectedBefore ? true : undefined));
      assert.equal(await echo(`${p.url}/mcp`, 'alpha__echo', 'still'), 'still');

      writeFileSync(p.configPath, config(stdioMock('alpha') + stdioMock('beta')));
      await until('config.reloaded', () => p.logs.find((l) => l.msg === 'config.reloaded'));
      await until('beta tools', async () => ((await toolNames(`${p.url}/mcp`)).includes('beta__echo') ? true : undefined), 30_000);
      assert.equal(await echo(`${p.url}/mcp`, 'beta__echo', 'new'), 'new');
    } finally {
      await p.stop();
    }
  });
});

describe('hot reload (real file watcher, every way an editor saves)', () => {
  /** An upstream nobody listens for: no process, and /readyz lists it by name at once. */
  const named = (name: string): string => config(`
  - name: ${name}
    kind: streamable-http
    url: http://127.0.0.1:1/mcp
    timeouts: { connect: 1s, firstByte: 1s, total: 2s }`).replace('level: silent', 'level: info');

  const upstreamNames = async (url: string): Promise<string> => (await readyz(url)).body.upstreams.map((u) => u.name).join(',');

  it('keeps seeing saves after an in-place write quickly followed by a rename-over (the lost-watch sequence)', { timeout: 120_000 }, async () => {
    const p = await startProcess(named('start'));
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-reload-src-'));
    try {
      assert.equal(await upstreamNames(p.url), 'start');
      await sleep(300);
      const expect = async (name: string, how: string): Promise<void> => {
        await until(`${name} after ${how}`, async () => ((await upstreamNames(p.url)) === name ? true : undefined), 10_000);
      };
      const good = join(dir, 'good.yaml');
      const tmp = `${p.configPath}.tmp`;
      for (let i = 0; i < 3; i++) {
        // `cp good cfg.yaml; sed -i 's/…/…/' cfg.yaml`, then `sed … > tmp && mv tmp cfg.yaml`, back to back.
        writeFileSync(good, named(`cp${i}`));
        copyFileSync(good, p.configPath);
        execFileSync('sed', ['-i', `s/name: cp${i}$/name: sed${i}/`, p.configPath]);
        writeFileSync(tmp, readFileSync(p.configPath, 'utf8').replace(`name: sed${i}`, `name: mv${i}`));
        renameSync(tmp, p.configPath);
        await expect(`mv${i}`, `cp + sed -i + mv (iteration ${i})`);
        // Later saves, each on its own, must still be seen.
        writeFileSync(p.configPath, named(`write${i}`));
        await expect(`write${i}`, `an in-place write (iteration ${i})`);
        execFileSync('sed', ['-i', `s/name: write${i}$/name: sedi${i}/`, p.configPath]);
        await expect(`sedi${i}`, `sed -i (iteration ${i})`);
      }
      assert.ok(!p.logs.some((l) => l.msg === 'config.watch_error'), 'no watch error');
    } finally {
      await p.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('health and degradation', () => {
  const down = `
  - name: badhttp
    kind: streamable-http
    url: http://127.0.0.1:1/mcp
    timeouts: { connect: 2s, firstByte: 2s, total: 3s }
  - name: quitter
    kind: stdio
    command: ${JSON.stringify(process.execPath)}
    args: ["-e", "process.exit(3)"]
    restart: { initialDelay: 50ms, maxRestarts: 1 }`;

  it('down upstreams are unhealthy while the others keep working', async () => {
    const g = await gateway(config(stdioMock('alpha') + down));
    await g.waitHealthy(['alpha']);
    const ready = await until('both down upstreams unhealthy', async () => {
      const r = await readyz(g.url);
      const h = (n: string): string | undefined => r.body.upstreams.find((u) => u.name === n)?.health;
      return h('badhttp') === 'unhealthy' && h('quitter') === 'unhealthy' ? r : undefined;
    });
    assert.equal(ready.status, 200);
    assert.equal(ready.body.status, 'degraded');
    assert.equal(ready.body.upstreams.find((u) => u.name === 'alpha')?.health, 'healthy');
    assert.equal(await echo(g.mcp, 'alpha__echo', 'degraded but serving'), 'degraded but serving');
    const names = await toolNames(g.mcp);
    assert.ok(names.every((n) => n.startsWith('alpha__')), names.join(','));
    const health = await fetch(`${g.url}/healthz`, { signal: AbortSignal.timeout(5_000) });
    assert.equal(health.status, 200);
  });

  it('/readyz is 503 when every upstream is down; /healthz stays 200', async () => {
    const g = await gateway(config(down));
    const ready = await until('503', async () => {
      const r = await readyz(g.url);
      return r.status === 503 && r.body.upstreams.every((u) => u.health === 'unhealthy') ? r : undefined;
    });
    assert.equal(ready.body.status, 'unavailable');
    const health = await fetch(`${g.url}/healthz`, { signal: AbortSignal.timeout(5_000) });
    assert.equal(health.status, 200);
    // A call to a tool of a down upstream is a clean JSON-RPC error, not a hang.
    const r = await modern(g.mcp, 'tools/call', { name: 'quitter__anything', arguments: {} });
    assert.ok(r.error, JSON.stringify(r));
  });
});
