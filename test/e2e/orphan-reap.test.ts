/**
 * The leftover reaper (security-checklist D1, src/upstreams/child-ledger.ts): a gateway that is
 * SIGKILLed runs no exit hook, so a stdio child that ignores EOF outlives it; the next gateway
 * started with the same run directory reaps it from the dead gateway's ledger. Ledgers of live
 * gateways are left alone, a pid whose start time does not match is never signalled, malformed
 * ledgers are removed, and a run directory others could write to is not used at all. Real
 * processes through the CLI, each test with its own PORTCULLIS_RUN_DIR. Linux only (/proc).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoPath, tsNode } from '../helpers/gateway.js';
import { jsonLines } from '../helpers/json-lines.js';
import { childrenOf, cmdline, runningPid as alive, until } from '../helpers/procs.js';

const CLI = repoPath('src/cli/index.ts');
const MARK = 'orphan-reap-';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** /proc/<pid>/stat field 22. */
function starttime(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[19]);
}

const bootId = (): string => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
const ledgers = (dir: string): string[] => readdirSync(dir).filter((n) => /^gw-\d+-\d+\.json$/.test(n));

// Everything started here is killed at the end, pass or fail: gateways, their upstream children
// (as process groups: they lead their own), and the sleep processes of the pid-reuse test. A pid
// is only killed while its command line is still ours, so a reused pid is never hit.
const spawned: ChildProcess[] = [];
const groups = new Map<number, string>();
const tmpDirs: string[] = [];
after(() => {
  for (const c of spawned) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const [pid, mark] of groups) {
    if (!alive(pid) || !cmdline(pid).includes(mark)) continue;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

function freshDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix)); // 0700
  tmpDirs.push(d);
  return d;
}

const config = (marker: string): string => `
gateway:
  storage: memory
  shutdownGrace: 1s
log: { level: info }
upstreams:
  - name: one
    kind: stdio
    command: ${JSON.stringify(process.execPath)}
    args: ${JSON.stringify([...tsNode('test/fixtures/mock-upstream/stdio.ts'), '--ignore-eof', '--marker', marker])}
    cwd: ${JSON.stringify(repoPath())}
`;

async function healthy(url: string): Promise<true | undefined> {
  try {
    const r = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(3_000) });
    const body = (await r.json()) as { upstreams: { health: string }[] };
    return body.upstreams.length === 1 && body.upstreams[0]!.health === 'healthy' ? true : undefined;
  } catch {
    return undefined;
  }
}

interface Gw {
  child: ChildProcess;
  pid: number;
  logs: Record<string, unknown>[];
  upstreamPid: number;
  exit: Promise<{ code: number | null; signal: string | null }>;
}

/** Starts the CLI with one `--ignore-eof` stdio upstream; resolves once it is healthy. */
async function startGateway(runDir: string, marker: string): Promise<Gw> {
  const cfgDir = freshDir('portcullis-orphan-cfg-');
  const cfg = join(cfgDir, 'portcullis.yaml');
  writeFileSync(cfg, config(MARK + marker));
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'start', '--config', cfg], {
    cwd: repoPath(),
    env: { ...process.env, PORTCULLIS_PORT: '0', PORTCULLIS_LOG_LEVEL: 'info', PORTCULLIS_RUN_DIR: runDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  spawned.push(child);
  const exit = new Promise<{ code: number | null; signal: string | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  const logs = jsonLines(child.stdout!);
  child.stderr!.resume();
  const listening = await until('gateway.listening', () => logs.find((l) => l.msg === 'gateway.listening'), 30_000);
  await until('upstream healthy', () => healthy(String(listening.url)), 30_000);
  const ups = childrenOf(child.pid!).filter((p) => cmdline(p).includes(MARK + marker));
  assert.equal(ups.length, 1, `upstream children: ${childrenOf(child.pid!).map(cmdline).join(' | ')}`);
  const upstreamPid = ups[0]!;
  groups.set(upstreamPid, MARK + marker);
  return { child, pid: child.pid!, logs, upstreamPid, exit };
}

async function stopGateway(gw: Gw): Promise<void> {
  gw.child.kill('SIGTERM');
  const r = await Promise.race([gw.exit, sleep(20_000).then(() => undefined)]);
  assert.ok(r, 'gateway did not exit on SIGTERM');
  assert.equal(r.code, 0, JSON.stringify(r));
}

/** A `sleep 30` leading its own process group, as a stdio child does. */
function spawnSleep(): number {
  const c = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
  spawned.push(c);
  groups.set(c.pid!, 'sleep');
  return c.pid!;
}

/** A pid that names no live process: a finished `true`, already reaped. */
function deadPid(): number {
  const r = spawnSync('true');
  assert.ok(r.pid > 1 && !alive(r.pid));
  return r.pid;
}

describe('leftover reaper (D1)', { skip: process.platform !== 'linux' && 'needs /proc' }, () => {
  it('a child that ignores EOF outlives a SIGKILLed gateway and is reaped by the next start', async () => {
    const runDir = freshDir('portcullis-run-');
    const first = await startGateway(runDir, 'a1');
    const orphan = first.upstreamPid;
    const own = `gw-${first.pid}-${starttime(first.pid)}.json`;
    assert.deepEqual(ledgers(runDir), [own]);
    const entry = JSON.parse(readFileSync(join(runDir, own), 'utf8')) as { owner: { pid: number }; children: { pid: number; upstream: string }[] };
    assert.equal(entry.owner.pid, first.pid);
    assert.deepEqual(
      entry.children.map((c) => [c.pid, c.upstream]),
      [[orphan, 'one']],
    );

    first.child.kill('SIGKILL');
    assert.ok(await Promise.race([first.exit, sleep(10_000).then(() => undefined)]), 'gateway did not die');
    await sleep(1_000);
    // The defect this reaper is for: EOF on stdin was ignored, nothing else will stop it.
    assert.equal(alive(orphan), true, 'the orphan should have outlived its gateway');

    const second = await startGateway(runDir, 'a2');
    await until('orphan reaped', () => (alive(orphan) ? undefined : true), 10_000);
    const reaped = second.logs.filter((l) => l.msg === 'upstream.orphan_reaped');
    assert.equal(reaped.length, 1, JSON.stringify(reaped));
    assert.equal(reaped[0]!.pid, orphan);
    assert.equal(reaped[0]!.ownerPid, first.pid);
    assert.equal(reaped[0]!.upstream, 'one');
    assert.equal(Object.hasOwn(reaped[0]!, 'argv') || Object.hasOwn(reaped[0]!, 'env'), false);
    // The dead gateway's ledger is gone; the live one records its own child.
    assert.deepEqual(ledgers(runDir), [`gw-${second.pid}-${starttime(second.pid)}.json`]);
    assert.equal(alive(second.upstreamPid), true);

    await stopGateway(second);
    assert.deepEqual(ledgers(runDir), [], 'a clean exit removes the ledger');
    await until('second upstream gone', () => (alive(second.upstreamPid) ? undefined : true), 5_000);
  });

  it("a second gateway on the same run directory leaves a live gateway's children alone", async () => {
    const runDir = freshDir('portcullis-run-');
    const first = await startGateway(runDir, 'b1');
    const second = await startGateway(runDir, 'b2');
    await sleep(500);
    assert.equal(alive(first.upstreamPid), true, "the live gateway's child was killed");
    assert.equal(alive(first.pid), true);
    assert.deepEqual(second.logs.filter((l) => l.msg === 'upstream.orphan_reaped' || l.msg === 'child_ledger.malformed'), []);
    assert.deepEqual(ledgers(runDir).sort(), [`gw-${first.pid}-${starttime(first.pid)}.json`, `gw-${second.pid}-${starttime(second.pid)}.json`].sort());
    await stopGateway(second);
    await stopGateway(first);
    assert.deepEqual(ledgers(runDir), []);
  });

  it('never signals a pid whose start time does not match; malformed ledgers are removed, not trusted', async () => {
    const runDir = freshDir('portcullis-run-');
    const impostor = spawnSleep(); // a pid "reused" by an unrelated process
    const real = spawnSleep(); // the very process the dead gateway recorded
    const owner = deadPid();
    const boot = bootId();
    const dead = `gw-${owner}-1.json`;
    writeFileSync(
      join(runDir, dead),
      JSON.stringify({
        v: 1,
        owner: { pid: owner, starttime: 1, bootId: boot },
        children: [
          { pid: impostor, starttime: starttime(impostor) + 7, upstream: 'impostor' },
          { pid: real, starttime: starttime(real), upstream: 'real' },
        ],
      }),
      { mode: 0o600 },
    );
    // kill(-1) would signal every process we may signal: a pid of 1 must never pass validation.
    const owner2 = deadPid();
    const pidOne = `gw-${owner2}-2.json`;
    writeFileSync(join(runDir, pidOne), JSON.stringify({ v: 1, owner: { pid: owner2, starttime: 2, bootId: boot }, children: [{ pid: 1, starttime: 0, upstream: 'x' }] }), { mode: 0o600 });
    const garbage = 'gw-4-5.json';
    writeFileSync(join(runDir, garbage), '{"v":1,', { mode: 0o600 });
    writeFileSync(join(runDir, 'notes.txt'), 'not a ledger', { mode: 0o600 });

    const gw = await startGateway(runDir, 'c1');
    await until('the real orphan reaped', () => (alive(real) ? undefined : true), 10_000);
    assert.equal(alive(impostor), true, 'a pid with another start time was killed');
    const reaped = gw.logs.filter((l) => l.msg === 'upstream.orphan_reaped');
    assert.deepEqual(
      reaped.map((l) => [l.pid, l.upstream, l.ownerPid]),
      [[real, 'real', owner]],
    );
    const malformed = gw.logs.filter((l) => l.msg === 'child_ledger.malformed').map((l) => String(l.file).split('/').pop());
    assert.deepEqual(malformed.sort(), [pidOne, garbage].sort());
    assert.equal(existsSync(join(runDir, dead)), false);
    assert.equal(existsSync(join(runDir, pidOne)), false);
    assert.equal(existsSync(join(runDir, garbage)), false);
    assert.equal(existsSync(join(runDir, 'notes.txt')), true, 'files that are not ledgers are left alone');
    await stopGateway(gw);
  });

  it('a run directory that others could write to is not used: nothing is read or killed', async () => {
    const runDir = freshDir('portcullis-run-');
    const victim = spawnSleep();
    const owner = deadPid();
    writeFileSync(
      join(runDir, `gw-${owner}-1.json`),
      JSON.stringify({ v: 1, owner: { pid: owner, starttime: 1, bootId: bootId() }, children: [{ pid: victim, starttime: starttime(victim), upstream: 'planted' }] }),
      { mode: 0o600 },
    );
    chmodSync(runDir, 0o777);
    const gw = await startGateway(runDir, 'd1');
    const disabled = gw.logs.find((l) => l.msg === 'child_ledger.disabled');
    assert.ok(disabled, 'the refusal is logged');
    assert.match(String(disabled.reason), /permissions/);
    await sleep(500);
    assert.equal(alive(victim), true, 'a planted ledger made the gateway kill a process');
    assert.equal(
      ledgers(runDir).some((n) => n.startsWith(`gw-${gw.pid}-`)),
      false,
      'no ledger of its own in an unsafe directory',
    );
    await stopGateway(gw);
  });
});
