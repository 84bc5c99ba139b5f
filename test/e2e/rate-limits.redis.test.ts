/**
 * Two real gateway processes sharing one Redis enforce one limit (docs/rate-limits.md): offered
 * twice the configured rate between them, together they accept the limit within ±5 %. Runs
 * only when PORTCULLIS_TEST_REDIS_URL is set; each run uses its own key prefix and deletes it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { repoPath } from '../helpers/gateway.js';
import { startMockHttp, type MockHttp } from '../fixtures/mock-upstream/http-server.js';
import { drive, modernCall } from './rate-limits-load.js';

const REDIS_URL = process.env.PORTCULLIS_TEST_REDIS_URL;
const CLI = repoPath('src/cli/index.ts');
const PREFIX = `pcl:rl:test:${randomBytes(6).toString('hex')}:`;

interface GatewayProcess {
  child: ChildProcess;
  url: string;
  exit: Promise<unknown>;
}

const dirs: string[] = [];
const procs: GatewayProcess[] = [];
let mock: MockHttp | undefined;
let redis: Redis | undefined;

async function startProcess(yaml: string): Promise<GatewayProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-rl-'));
  dirs.push(dir);
  const path = join(dir, 'portcullis.yaml');
  writeFileSync(path, yaml);
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'start', '--config', path], {
    cwd: repoPath(),
    env: { ...process.env, PORTCULLIS_PORT: '0', PORTCULLIS_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exit = new Promise((r) => child.once('exit', r));
  const p: GatewayProcess = { child, url: '', exit };
  procs.push(p);
  child.stderr!.resume();
  p.url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('gateway did not start in 30 s')), 30_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const v = JSON.parse(line) as { msg?: string; url?: string };
        if (v.msg === 'gateway.listening' && v.url) {
          clearTimeout(timer);
          resolve(v.url);
        }
      } catch {
        /* not JSON */
      }
    });
    void exit.then(() => reject(new Error('gateway exited before listening')));
  });
  // Wait (bounded) until the upstream serves through this process.
  for (let i = 0; i < 100; i++) {
    const body = (await (await fetch(`${p.url}/readyz`)).json()) as { upstreams: { health: string }[] };
    if (body.upstreams.every((u) => u.health === 'healthy')) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return p;
}

describe('rate limits shared through Redis by two gateway processes', { skip: REDIS_URL === undefined ? 'PORTCULLIS_TEST_REDIS_URL is not set' : false }, () => {
  before(async () => {
    redis = new Redis(REDIS_URL!, { maxRetriesPerRequest: 1 });
    mock = await startMockHttp({ mode: 'legacy' });
    const yaml = [
      'gateway: { storage: memory }',
      'upstreams:',
      `  - { name: mock, kind: streamable-http, url: "${mock.url}" }`,
      'rateLimits:',
      '  store: redis',
      `  redis: { url: "${REDIS_URL}", keyPrefix: "${PREFIX}", timeout: 1s }`,
      '  rules:',
      '    - { name: shared, by: [tenant], rate: 50/1s, burst: 10 }',
      '    - { name: tight, by: [tool], match: { tools: [mock__echo_nonce] }, rate: 1/1h, burst: 3 }',
      '',
    ].join('\n');
    await Promise.all([startProcess(yaml), startProcess(yaml)]);
  });

  after(async () => {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
    await Promise.race([Promise.all(procs.map((p) => p.exit)), new Promise((r) => setTimeout(r, 15_000).unref())]);
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await mock?.close();
    if (redis) {
      // Delete this run's keys (bounded scan), then disconnect.
      let cursor = '0';
      for (let i = 0; i < 1000; i++) {
        const [next, found] = await redis.scan(cursor, 'MATCH', `${PREFIX}*`, 'COUNT', 500);
        if (found.length > 0) await redis.del(...found);
        cursor = next;
        if (cursor === '0') break;
      }
      await redis.quit();
    }
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('a small bucket is shared: three calls in all, whichever process takes them', async () => {
    const [a, b] = procs;
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await modernCall(`${(i % 2 === 0 ? a : b)!.url}/mcp`, 'mock__echo_nonce', { nonce: `n${i}` })).status);
    assert.deepEqual(statuses, [200, 200, 200, 429, 429, 429]);
    const keys = await redis!.keys(`${PREFIX}*`);
    assert.ok(keys.length >= 1, 'the limiter wrote its keys under the run prefix');
  });

  it('accuracy: two processes offered twice the rate accept the limit within ±5 %', async (t) => {
    const [a, b] = procs;
    // 50/s with a burst of 10, offered at 100/s for 3 s, alternating between the processes.
    const res = await drive([`${a!.url}/mcp`, `${b!.url}/mcp`], { perSecond: 100, seconds: 3, tool: 'mock__echo' });
    assert.deepEqual(res.other, []);
    const expected = 10 + (50 * res.elapsedMs) / 1000;
    t.diagnostic(`accepted ${res.accepted} of ${res.sent}, expected ${expected.toFixed(1)} over ${res.elapsedMs.toFixed(0)} ms`);
    assert.ok(Math.abs(res.accepted - expected) <= expected * 0.05, `accepted ${res.accepted}, expected ${expected.toFixed(1)} (sent ${res.sent}, refused ${res.refused}, ${res.elapsedMs.toFixed(0)} ms)`);
  });
});
