/**
 * Write-ahead under `kill -9` (security-checklist I1, I2; docs/audit.md): a real gateway
 * process under bounded concurrent load with unique arguments is SIGKILLed at a random point.
 * Every tools/call the mock upstream observed must have a durable `allow` decision in the log,
 * joined on the HMAC of the call's arguments under the tenant key (the test reads
 * `keys/t-default.hmac`). After a restart: `audit.recovery` is written, every decision has
 * exactly one outcome or `tool.call.outcome_unknown`, and seq continues contiguously.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoPath } from '../helpers/gateway.js';
import { startMockHttp, type MockHttp } from '../fixtures/mock-upstream/http-server.js';
import { modernCall } from './rate-limits-load.js';
import { parseVerifierKey } from '../../src/audit/checkpoint.js';
import { verifyLog } from '../../src/audit/verify.js';
import { jsonLines } from '../helpers/json-lines.js';

const CLI = repoPath('src/cli/index.ts');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const spawned: ChildProcess[] = [];
const dirs: string[] = [];
let mock: MockHttp | undefined;

after(async () => {
  for (const c of spawned) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await mock?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function until<T>(what: string, check: () => T | undefined | Promise<T | undefined>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(50);
  }
}

async function start(config: string): Promise<{ child: ChildProcess; url: string; exit: Promise<unknown> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'start', '--config', config], {
    cwd: repoPath(),
    env: { ...process.env, PORTCULLIS_PORT: '0', PORTCULLIS_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  spawned.push(child);
  const exit = new Promise((r) => child.once('exit', r));
  const lines = jsonLines(child.stdout!);
  child.stderr!.resume();
  const listening = await until('gateway.listening', () => lines.find((l) => l.msg === 'gateway.listening'));
  return { child, url: String(listening.url), exit };
}

interface Rec {
  seq: number;
  type: string;
  call?: string;
  args?: { hmac_sha256: string };
  decision?: { result: string };
}

function readLog(logDir: string): Rec[] {
  const out: Rec[] = [];
  for (const f of readdirSync(logDir).filter((n) => n.startsWith('seg-')).sort()) {
    for (const l of readFileSync(join(logDir, f), 'utf8').split('\n')) {
      if (!l) continue;
      try {
        out.push(JSON.parse(l) as Rec);
      } catch {
        /* a torn final line: not durable, not counted */
      }
    }
  }
  return out;
}

describe('audit write-ahead under kill -9 (I1, I2)', () => {
  it('every call the upstream saw has a durable allow decision; recovery closes the rest', async () => {
    mock = await startMockHttp({ mode: 'modern' });
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-audit-crash-'));
    dirs.push(dir);
    const config = join(dir, 'portcullis.yaml');
    writeFileSync(config, ['gateway: { storage: memory }', 'log: { level: info }', 'upstreams:', `  - { name: mock, kind: streamable-http, url: ${JSON.stringify(mock.url)} }`].join('\n'));
    const logDir = join(dir, '.portcullis', 'audit', 'logs', 't-default');

    const gw = await start(config);
    await until('mock healthy', async () => {
      const b = (await (await fetch(`${gw.url}/readyz`)).json()) as { upstreams: { health: string }[] };
      return b.upstreams[0]?.health === 'healthy' ? true : undefined;
    });
    // Bounded load: 8 workers, at most 1,500 calls, killed a random 0–600 ms after the upstream
    // has seen its first call (waiting for that, not a fixed time: a loaded machine may take
    // longer than any fixed delay to get the first call through).
    let n = 0;
    let killed = false;
    const worker = async (): Promise<void> => {
      while (!killed && n < 1500) {
        const i = n++;
        await modernCall(gw.url + '/mcp', 'mock__echo', { text: `${i}-${randomBytes(6).toString('hex')}` }).catch(() => undefined);
      }
    };
    const load = Promise.all(Array.from({ length: 8 }, worker));
    const sawCall = (): true | undefined => (mock!.record.messages.some((m) => (m.msg as { method?: string }).method === 'tools/call') ? true : undefined);
    await until('the upstream saw a call', sawCall);
    await sleep(Math.floor(Math.random() * 600));
    gw.child.kill('SIGKILL');
    killed = true;
    await gw.exit;
    await load;

    const observed = mock.record.messages
      .map((m) => m.msg as { method?: string; params?: { arguments?: unknown } })
      .filter((m) => m.method === 'tools/call');
    assert.ok(observed.length > 0, 'the upstream saw calls before the kill');
    const hmacKey = readFileSync(join(dir, '.portcullis', 'audit', 'keys', 't-default.hmac'));
    const crashed = readLog(logDir);
    const allowed = new Set(crashed.filter((r) => r.type === 'tool.call.decision' && r.decision?.result === 'allow').map((r) => r.args?.hmac_sha256));
    const missing = observed.filter((m) => !allowed.has(createHmac('sha256', hmacKey).update(JSON.stringify(m.params?.arguments)).digest('hex')));
    assert.equal(missing.length, 0, `${missing.length} of ${observed.length} upstream calls have no durable decision`);

    // Restart: recovery runs before listen.
    const again = await start(config);
    await until('audit.recovery on disk', () => (readLog(logDir).some((r) => r.type === 'audit.recovery' && r.seq >= crashed.length - 1) ? true : undefined));
    again.child.kill('SIGTERM');
    await again.exit;
    const recs = readLog(logDir);
    recs.forEach((r, i) => assert.equal(r.seq, i, 'seq contiguous across the crash'));
    const outcomes = new Map<string, number>();
    for (const r of recs) if (r.call && r.type !== 'tool.call.decision' && r.type.startsWith('tool.call.')) outcomes.set(r.call, (outcomes.get(r.call) ?? 0) + 1);
    for (const d of recs.filter((r) => r.type === 'tool.call.decision')) assert.equal(outcomes.get(d.call!), 1, `decision ${d.call} has exactly one outcome`);
    assert.ok(existsSync(join(logDir, 'checkpoints')));
    // The offline verifier accepts the recovered log with its key (checkpoints, chain, outcomes).
    const key = parseVerifierKey(readFileSync(join(dir, '.portcullis', 'audit', 'keys', 't-default.pub'), 'utf8'));
    const report = verifyLog({ logDir, keys: [key] });
    assert.equal(report.ok, true, JSON.stringify(report.failure));
  });
});
