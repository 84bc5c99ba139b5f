/**
 * Supervised stdio upstreams with real child processes: restart after a crash, crash loops,
 * idle close, lifetime recycling with drain, reaping every child, and no orphans when the
 * gateway's parent or the gateway itself dies.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { openStdioLink, type StdioLink } from '../../src/upstreams/stdio/link.js';
import { LinkSupervisor, type SupervisorPolicy } from '../../src/upstreams/supervisor.js';
import { liveChildPids, reapAll } from '../../src/upstreams/children.js';
import { spawnStdioProcess, type StdioProcess } from '../../src/upstreams/stdio/process.js';
import { runningPid } from '../helpers/procs.js';
import { GatewayError } from '../../src/pipeline/errors.js';
import { silentLogger } from '../../src/observability/logger.js';
import { alive, callOpts, codeOf, fixtureConfig, REPO_ROOT, textOf } from '../fixtures/stdio/config.js';

const GATEWAY_SIM = fileURLToPath(new URL('../fixtures/stdio/gateway-sim.ts', import.meta.url));

async function waitFor(cond: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function supervise(t: TestContext, p: Partial<SupervisorPolicy>, args: string[] = []): LinkSupervisor {
  const sup = new LinkSupervisor(() => openStdioLink(fixtureConfig('legacy', args), silentLogger, { graceMs: 1000 }), {
    initialDelayMs: 20,
    maxDelayMs: 100,
    maxRestarts: 5,
    windowMs: 60_000,
    idleTimeoutMs: 0,
    maxLifetimeMs: 0,
    ...p,
  });
  t.after(() => sup.stop());
  return sup;
}

const echo = (l: { call: StdioLink['call'] }, text: string) => l.call('tools/call', { name: 'echo', arguments: { text } }, callOpts());
const pidOf = (l: unknown): number => (l as StdioLink).pid as number;

describe('supervised stdio upstream', () => {
  it('restarts after a crash and serves again', async (t) => {
    const sup = supervise(t, {});
    const first = await sup.get();
    const firstPid = pidOf(first);
    assert.equal(textOf(await echo(first, 'one')), 'one');
    assert.equal(codeOf(await first.call('tools/call', { name: 'crash', arguments: {} }, callOpts())), 'ERR_UPSTREAM_CLOSED');
    const second = await sup.get();
    assert.notEqual(pidOf(second), firstPid);
    assert.equal(textOf(await echo(second, 'two')), 'two');
    assert.equal(sup.state, 'healthy');
    assert.equal(alive(firstPid), false);
  });

  it('goes unhealthy after maxRestarts crashes and rejects fast', async (t) => {
    const sup = supervise(t, { maxRestarts: 1 });
    for (let i = 0; i < 2; i++) {
      const l = await sup.get();
      await l.call('tools/call', { name: 'crash', arguments: {} }, callOpts());
    }
    await waitFor(() => sup.state === 'unhealthy', 'unhealthy');
    await assert.rejects(sup.get(), (e: unknown) => e instanceof GatewayError && e.code === 'ERR_UPSTREAM_UNAVAILABLE');
  });

  it('closes an idle process', async (t) => {
    const sup = supervise(t, { idleTimeoutMs: 200 });
    const l = await sup.get();
    const pid = pidOf(l);
    assert.equal(textOf(await echo(l, 'x')), 'x');
    await waitFor(() => l.closed && !alive(pid), 'idle close');
    assert.equal(sup.state, 'idle');
  });

  it('recycles after maxLifetime without cutting the call in flight', async (t) => {
    const sup = supervise(t, { maxLifetimeMs: 400 });
    const old = await sup.get();
    const oldPid = pidOf(old);
    const slow = old.call('tools/call', { name: 'slow', arguments: { tag: 'survives', steps: 15, delayMs: 100 } }, callOpts());
    await waitFor(() => sup.current !== undefined && pidOf(sup.current) !== oldPid, 'replacement');
    const fresh = await sup.get();
    assert.notEqual(pidOf(fresh), oldPid);
    assert.equal(textOf(await echo(fresh, 'new')), 'new');
    assert.equal(textOf(await slow), 'survives', 'the old process finished its call');
    await waitFor(() => !alive(oldPid), 'old process closed after draining');
  });
});

describe('reaping and orphans (security checklist D1)', () => {
  it('reapAll stops every child, including one that ignores SIGTERM', async () => {
    const links = await Promise.all([
      openStdioLink(fixtureConfig('legacy'), silentLogger),
      openStdioLink(fixtureConfig('modern'), silentLogger),
      openStdioLink(fixtureConfig('legacy', ['--ignore-sigterm']), silentLogger),
    ]);
    const pids = links.map((l) => l.pid as number);
    assert.ok(pids.every((p) => liveChildPids().includes(p)));
    await reapAll(300);
    for (const p of pids) {
      assert.throws(() => process.kill(p, 0), (e: NodeJS.ErrnoException) => e.code === 'ESRCH');
      assert.ok(!liveChildPids().includes(p));
    }
    await waitFor(() => links.every((l) => l.closed), 'links see the exit');
  });

  const running = runningPid;

  /**
   * A child that starts a helper in its own process group (as a wrapper such as a package runner
   * starts the real server), prints the helper's pid, and then exits on EOF (`eof`) or crashes at
   * once (`crash`). The helper ignores SIGTERM in `stubborn` mode.
   */
  async function withHelper(t: TestContext, mode: 'eof' | 'crash', stubborn = false): Promise<{ proc: StdioProcess; helper: number }> {
    const helperCode = stubborn ? "process.on('SIGTERM',()=>{});setInterval(()=>{},1e6)" : 'setInterval(()=>{},1e6)';
    const script = `
      const { spawn } = require('node:child_process');
      const h = spawn(process.execPath, ['-e', ${JSON.stringify(helperCode)}], { stdio: 'ignore' });
      process.stdout.write(h.pid + '\\n');
      ${mode === 'crash' ? "setTimeout(() => process.exit(5), 200);" : "process.stdin.resume(); process.stdin.on('end', () => process.exit(0));"}
    `;
    const proc = spawnStdioProcess({ name: 'wrapper', command: process.execPath, args: ['-e', script], cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '' }, log: silentLogger });
    const line = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no helper pid')), 15_000);
      createInterface({ input: proc.child.stdout }).once('line', (l) => {
        clearTimeout(timer);
        resolve(l);
      });
    });
    const helper = Number(line.trim());
    t.after(() => {
      if (running(helper)) process.kill(helper, 'SIGKILL');
    });
    assert.ok(helper > 0 && running(helper), 'the helper runs');
    return { proc, helper };
  }

  it('stop() also ends what the child left in its process group when it exited on EOF', async (t) => {
    const { proc, helper } = await withHelper(t, 'eof');
    await proc.stop(500);
    assert.ok(proc.exit, 'the child exited');
    assert.equal(running(helper), false, 'the helper was reaped with its group');
    assert.ok(!liveChildPids().includes(proc.pid as number));
  });

  it('a child that crashes does not leave its helpers behind; one that ignores SIGTERM is killed', async (t) => {
    for (const stubborn of [false, true]) {
      const { proc, helper } = await withHelper(t, 'crash', stubborn);
      const exit = await proc.exited;
      assert.equal(exit.code, 5);
      assert.ok(liveChildPids().includes(proc.pid as number), 'tracked while its group lives');
      await waitFor(() => !running(helper), `helper gone (stubborn: ${stubborn})`, 10_000);
      await waitFor(() => !liveChildPids().includes(proc.pid as number), 'untracked once the group is gone', 5_000);
    }
  });

  /** Starts gateway-sim and returns the "<gateway pid> <child pid>" it prints. */
  async function startSim(t: TestContext, args: string[]): Promise<{ gateway: number; child: number; launcher: number }> {
    const p = spawn(process.execPath, ['--import', 'tsx', GATEWAY_SIM, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let pids: number[] = [];
    t.after(() => {
      for (const pid of [p.pid, ...pids]) {
        try {
          if (pid) process.kill(pid, 'SIGKILL');
        } catch {}
      }
    });
    const rl = createInterface({ input: p.stdout });
    const line = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('gateway-sim did not start')), 20_000);
      rl.once('line', (l) => {
        clearTimeout(timer);
        resolve(l);
      });
    });
    rl.close();
    pids = line.trim().split(' ').map(Number);
    return { gateway: pids[0] as number, child: pids[1] as number, launcher: p.pid as number };
  }

  it("a gateway whose parent dies reaps its children and exits (watchParent)", async (t) => {
    const { gateway, child } = await startSim(t, ['--spawn-parent']);
    assert.ok(gateway > 0 && child > 0);
    await waitFor(() => !alive(gateway) && !alive(child), 'gateway and its child gone');
  });

  it('a child sees EOF and exits when the gateway is SIGKILLed', async (t) => {
    const { gateway, child } = await startSim(t, []);
    assert.ok(alive(child));
    process.kill(gateway, 'SIGKILL');
    await waitFor(() => !alive(child), 'child exits on EOF');
  });
});
