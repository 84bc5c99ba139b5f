/**
 * Process lifecycle (security-checklist D1): the real CLI started as a process with two stdio
 * upstreams exits 0 on SIGTERM and on SIGINT and leaves no descendant alive; a gateway whose
 * parent is SIGKILLed notices, shuts down and reaps its children. Plus the quickstart smoke test:
 * `examples/quickstart/portcullis.yaml` starts with both upstreams healthy and answers.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoPath, tsNode } from '../helpers/gateway.js';
import { jsonLines } from '../helpers/json-lines.js';
import { childrenOf, cmdline, runningPid, until } from '../helpers/procs.js';

const MODERN = '2026-07-28';
const META = { 'io.modelcontextprotocol/protocolVersion': MODERN, 'io.modelcontextprotocol/clientCapabilities': {} };
const CLI = repoPath('src/cli/index.ts');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const alive = runningPid;

/** Every descendant pid (bounded breadth-first walk). */
function descendants(pid: number): number[] {
  const seen: number[] = [];
  const queue = [pid];
  while (queue.length && seen.length < 500) {
    for (const c of childrenOf(queue.shift()!)) {
      if (!seen.includes(c)) {
        seen.push(c);
        queue.push(c);
      }
    }
  }
  return seen;
}

const twoUpstreams = (): string => `
gateway:
  storage: memory
  shutdownGrace: 2s
log: { level: info }
upstreams:
${['one', 'two']
  .map(
    (n) => `  - name: ${n}
    kind: stdio
    command: ${JSON.stringify(process.execPath)}
    args: ${JSON.stringify([...tsNode('test/fixtures/mock-upstream/stdio.ts'), '--marker', `lifecycle-${n}`])}
    cwd: ${JSON.stringify(repoPath())}`,
  )
  .join('\n')}
`;

interface Logs {
  lines: Record<string, unknown>[];
}

function collectLogs(stream: NodeJS.ReadableStream): Logs {
  return { lines: jsonLines(stream) };
}

const tmpDirs: string[] = [];
const spawned: ChildProcess[] = [];
const strayPids = new Set<number>();
after(() => {
  for (const c of spawned) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const p of strayPids) if (alive(p)) process.kill(p, 'SIGKILL');
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

function writeConfig(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-life-'));
  tmpDirs.push(dir);
  const path = join(dir, 'portcullis.yaml');
  writeFileSync(path, yaml);
  return path;
}

async function readyzHealthy(url: string, n: number): Promise<boolean | undefined> {
  try {
    const r = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(3_000) });
    const body = (await r.json()) as { upstreams: { health: string }[] };
    return body.upstreams.filter((u) => u.health === 'healthy').length === n ? true : undefined;
  } catch {
    return undefined;
  }
}

async function callEcho(url: string, tool: string, text: string): Promise<string> {
  const res = await fetch(`${url}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': tool },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: tool, arguments: { text }, _meta: META } }),
    signal: AbortSignal.timeout(15_000),
  });
  const body = await res.text();
  const json = res.headers.get('content-type')?.startsWith('text/event-stream')
    ? JSON.parse(
        body
          .split('\n')
          .filter((l) => l.startsWith('data:') && l.length > 6)
          .pop()!
          .slice(5),
      )
    : JSON.parse(body);
  return json.result?.content?.[0]?.text ?? JSON.stringify(json);
}

/** The two upstreams, the second of which ignores EOF and SIGTERM (its stop takes two graces). */
const oneStubborn = (): string =>
  twoUpstreams().replace(
    JSON.stringify([...tsNode('test/fixtures/mock-upstream/stdio.ts'), '--marker', 'lifecycle-two']),
    JSON.stringify([...tsNode('test/fixtures/stdio/legacy-server.ts'), '--ignore-sigterm', '--marker', 'lifecycle-two']),
  );

/** Starts the gateway CLI directly and waits until both upstreams are healthy; returns its upstream child pids. */
async function startGatewayProcess(yaml = twoUpstreams()): Promise<{ child: ChildProcess; url: string; upstreamPids: number[]; exit: Promise<{ code: number | null; signal: string | null }> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'start', '--config', writeConfig(yaml)], {
    cwd: repoPath(),
    env: { ...process.env, PORTCULLIS_PORT: '0', PORTCULLIS_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  spawned.push(child);
  const exit = new Promise<{ code: number | null; signal: string | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  const logs = collectLogs(child.stdout!);
  child.stderr!.resume();
  const listening = await until('gateway.listening', () => logs.lines.find((l) => l.msg === 'gateway.listening'), 30_000);
  const url = String(listening.url);
  await until('both upstreams healthy', () => readyzHealthy(url, 2), 30_000);
  const upstreamPids = childrenOf(child.pid!).filter((p) => cmdline(p).includes('lifecycle-'));
  assert.equal(upstreamPids.length, 2, `upstream children: ${childrenOf(child.pid!).map(cmdline).join(' | ')}`);
  for (const p of descendants(child.pid!)) strayPids.add(p);
  return { child, url, upstreamPids, exit };
}

describe('process lifecycle (D1)', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal}: exits 0 and leaves no child alive`, async () => {
      const gw = await startGatewayProcess();
      assert.equal(await callEcho(gw.url, 'one__echo', 'hello'), 'hello');
      const all = descendants(gw.child.pid!);
      assert.ok(all.length >= 2);
      gw.child.kill(signal);
      const result = await Promise.race([gw.exit, sleep(20_000).then(() => undefined)]);
      assert.ok(result, 'gateway did not exit');
      assert.equal(result.code, 0, `exit ${JSON.stringify(result)}`);
      await until('every descendant gone', () => (all.some(alive) ? undefined : true), 10_000).catch(() => undefined);
      const left = all.filter(alive);
      assert.deepEqual(left, [], `still alive: ${left.map((p) => `${p} ${cmdline(p)}`).join(' | ')}`);
    });
  }

  it('a second SIGINT while stopping exits at once (130) and still leaves no child alive', async () => {
    const yaml = oneStubborn();
    assert.ok(yaml.includes('--ignore-sigterm'));
    const gw = await startGatewayProcess(yaml);
    const all = descendants(gw.child.pid!);
    gw.child.kill('SIGINT');
    // The stubborn upstream holds the graceful stop for two graces (EOF, then SIGTERM): seconds.
    await sleep(500);
    assert.equal(alive(gw.child.pid!), true, 'still stopping gracefully');
    gw.child.kill('SIGINT');
    const result = await Promise.race([gw.exit, sleep(3_000).then(() => undefined)]);
    assert.ok(result, 'the second signal did not end the gateway promptly');
    assert.deepEqual(result, { code: 130, signal: null });
    await until('every descendant gone', () => (all.some(alive) ? undefined : true), 5_000).catch(() => undefined);
    const left = all.filter(alive);
    assert.deepEqual(left, [], `still alive: ${left.map((p) => `${p} ${cmdline(p)}`).join(' | ')}`);
  });

  it('SIGTERM lets a call in flight finish within the grace period', async () => {
    const gw = await startGatewayProcess();
    const all = descendants(gw.child.pid!);
    const res = await fetch(`${gw.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': 'one__slow' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 'drain', method: 'tools/call', params: { name: 'one__slow', arguments: { steps: 4, ms: 150 }, _meta: { ...META, progressToken: 'p' } } }),
      signal: AbortSignal.timeout(20_000),
    });
    assert.match(String(res.headers.get('content-type')), /^text\/event-stream/);
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let text = '';
    // Read until the first progress event: the call is certainly in flight.
    for (let i = 0; i < 100 && !text.includes('notifications/progress'); i++) {
      const { value, done } = await reader.read();
      if (done) break;
      text += dec.decode(value, { stream: true });
    }
    assert.match(text, /notifications\/progress/);
    gw.child.kill('SIGTERM');
    for (let i = 0; i < 1000; i++) {
      const { value, done } = await reader.read();
      if (done) break;
      text += dec.decode(value, { stream: true });
    }
    assert.match(text, /"id":"drain","result"/);
    assert.match(text, /done after 4 steps/);
    const result = await Promise.race([gw.exit, sleep(20_000).then(() => undefined)]);
    assert.equal(result?.code, 0);
    await until('every descendant gone', () => (all.some(alive) ? undefined : true), 10_000).catch(() => undefined);
    assert.deepEqual(all.filter(alive), []);
  });

  it('a gateway whose parent is SIGKILLed shuts down and reaps its children', async () => {
    const cfg = writeConfig(twoUpstreams());
    // The intermediate parent hands the gateway our stdout pipe, reports its pid, and then idles.
    const script = `
      const { spawn } = require('node:child_process');
      const c = spawn(process.execPath, ['--import', 'tsx', ${JSON.stringify(CLI)}, 'start', '--config', ${JSON.stringify(cfg)}], {
        cwd: ${JSON.stringify(repoPath())}, stdio: ['ignore', 'inherit', 'ignore'],
      });
      process.stdout.write(JSON.stringify({ msg: 'intermediate.spawned', pid: c.pid }) + '\\n');
      setInterval(() => {}, 1000);
    `;
    const parent = spawn(process.execPath, ['-e', script], {
      cwd: repoPath(),
      env: { ...process.env, PORTCULLIS_PORT: '0', PORTCULLIS_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    spawned.push(parent);
    const logs = collectLogs(parent.stdout!);
    const spawnedLine = await until('intermediate reported the gateway pid', () => logs.lines.find((l) => l.msg === 'intermediate.spawned'), 10_000);
    const gwPid = Number(spawnedLine.pid);
    strayPids.add(gwPid);
    const listening = await until('gateway.listening', () => logs.lines.find((l) => l.msg === 'gateway.listening'), 30_000);
    const url = String(listening.url);
    await until('both upstreams healthy', () => readyzHealthy(url, 2), 30_000);
    const all = descendants(gwPid);
    for (const p of all) strayPids.add(p);
    assert.equal(all.filter((p) => cmdline(p).includes('lifecycle-')).length, 2);

    parent.kill('SIGKILL');
    await until('gateway noticed and exited', () => (alive(gwPid) ? undefined : true), 20_000);
    await until('every descendant gone', () => (all.some(alive) ? undefined : true), 10_000).catch(() => undefined);
    const left = all.filter(alive);
    assert.deepEqual(left, [], `still alive: ${left.map((p) => `${p} ${cmdline(p)}`).join(' | ')}`);
    assert.ok(logs.lines.some((l) => l.msg === 'gateway.stopping' && l.why === 'parent process exited'), 'the gateway logged why it stopped');
  });
});

describe('quickstart smoke', () => {
  const yaml = repoPath('examples/quickstart/portcullis.yaml');
  before(() => {
    // The quickstart runs the demo upstream from dist/: build once if it is missing.
    if (!existsSync(repoPath('dist/demo/echo-server.js'))) {
      spawnSync(process.execPath, [repoPath('node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: repoPath(), stdio: 'ignore', timeout: 180_000 });
    }
    assert.ok(existsSync(repoPath('dist/demo/echo-server.js')), 'dist/demo/echo-server.js missing after build');
  });

  it('starts with both upstreams healthy; demo__echo echoes; memory__read_graph answers', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'start', '--config', yaml], {
      cwd: repoPath(),
      env: { ...process.env, PORTCULLIS_PORT: '0', PORTCULLIS_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    spawned.push(child);
    const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const logs = collectLogs(child.stdout!);
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    try {
      const listening = await until('gateway.listening', () => logs.lines.find((l) => l.msg === 'gateway.listening'), 30_000);
      const url = String(listening.url);
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.doesNotMatch(url, /:8080$/, 'PORTCULLIS_PORT=0 overrides the port');
      await until('demo and memory healthy', () => readyzHealthy(url, 2), 30_000);
      assert.equal(await callEcho(url, 'demo__echo', 'quickstart'), 'quickstart');
      const res = await fetch(`${url}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': 'memory__read_graph' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'memory__read_graph', arguments: {}, _meta: META } }),
        signal: AbortSignal.timeout(15_000),
      });
      const text = await res.text();
      assert.equal(res.status, 200);
      assert.match(text, /"result"/);
      assert.doesNotMatch(text, /"isError":true/);
      // The quickstart's policy: deletes need approval, so the call is refused before the upstream.
      const del = await fetch(`${url}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': 'memory__delete_entities' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'memory__delete_entities', arguments: { entityNames: ['x'] }, _meta: META } }),
        signal: AbortSignal.timeout(15_000),
      });
      const refused = (await del.json()) as { error?: { code: number; data?: { portcullis?: string; rule?: string } } };
      assert.equal(refused.error?.code, -31202);
      assert.deepEqual([refused.error?.data?.portcullis, refused.error?.data?.rule], ['ERR_APPROVAL_REQUIRED', 'memory-deletes']);
      // The virtual server of the quickstart shows only the demo tools.
      const vs = await fetch(`${url}/servers/demo-only/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/list' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/list', params: { _meta: META } }),
        signal: AbortSignal.timeout(15_000),
      });
      const tools = ((await vs.json()) as { result: { tools: { name: string }[] } }).result.tools.map((t) => t.name);
      assert.ok(tools.length > 0 && tools.every((t) => t.startsWith('demo__')), tools.join(','));
      assert.match(stderr, /Portcullis listening on/);
    } finally {
      child.kill('SIGTERM');
      const code = await Promise.race([exit, sleep(20_000).then(() => 'timeout' as const)]);
      assert.equal(code, 0);
    }
  });
});
