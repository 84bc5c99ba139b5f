/**
 * Child processes of the bench run (upstreams, gateways) and what we read about them from /proc:
 * CPU time and resident memory. Every process started here is tracked so that every exit path of
 * the runner can stop it (SIGTERM, then SIGKILL after a bounded wait).
 */
import { spawn, execFileSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface Proc {
  readonly label: string;
  readonly child: ChildProcessWithoutNullStreams;
  readonly pid: number;
  /** The last few KB of stderr, for failure reports. */
  stderrTail(): string;
  /** Resolves with the first stdout line the predicate accepts; rejects on exit or timeout. */
  waitForLine<T>(pick: (line: string) => T | undefined, timeoutMs: number): Promise<T>;
  stop(graceMs?: number): Promise<void>;
}

const live = new Set<Proc>();

/** Starts `node <argv>`; stdin stays open as a liveness pipe (children exit when it closes). */
export function spawnNode(label: string, argv: readonly string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }): Proc {
  const child = spawn(process.execPath, [...argv], { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`${label}: spawn failed`);
  let err = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    err = (err + s).slice(-4096);
  });
  let buf = '';
  const listeners = new Set<(line: string) => void>();
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (s: string) => {
    if (listeners.size === 0) return;
    buf = (buf + s).slice(-1_000_000);
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      for (const l of [...listeners]) l(line);
    }
  });
  child.stdin.on('error', () => undefined);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const proc: Proc = {
    label,
    child,
    pid: child.pid,
    stderrTail: () => err,
    waitForLine<T>(pick: (line: string) => T | undefined, timeoutMs: number): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const done = (): void => {
          clearTimeout(timer);
          listeners.delete(onLine);
          child.off('exit', onExit);
        };
        const onLine = (line: string): void => {
          let v: T | undefined;
          try {
            v = pick(line);
          } catch {
            v = undefined;
          }
          if (v !== undefined) {
            done();
            resolve(v);
          }
        };
        const onExit = (code: number | null): void => {
          done();
          reject(new Error(`${label} exited (code ${code}) before it was ready: ${err.slice(-800)}`));
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${label} not ready within ${timeoutMs} ms: ${err.slice(-800)}`));
        }, timeoutMs);
        listeners.add(onLine);
        child.once('exit', onExit);
      });
    },
    async stop(graceMs = 3000): Promise<void> {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(t);
      }
      child.stdin.destroy();
      live.delete(proc);
    },
  };
  live.add(proc);
  child.once('exit', () => {
    // Nobody reads stdout once ready: keep the pipe drained so a chatty child never blocks.
    child.stdout.resume();
  });
  child.stdout.on('end', () => undefined);
  return proc;
}

/** Processes that exited on their own (not through stop()), with their stderr tails: for failure reports. */
export function deadProcesses(): string[] {
  return [...live]
    .filter((p) => p.child.exitCode !== null || p.child.signalCode !== null)
    .map((p) => `${p.label} (pid ${p.pid}) exited with ${p.child.exitCode ?? p.child.signalCode}: ${p.stderrTail().slice(-1500)}`);
}

/** Stops every process still running, in parallel, each within its own bounded grace period. */
export async function stopAll(graceMs = 3000): Promise<void> {
  await Promise.allSettled([...live].map((p) => p.stop(graceMs)));
}

/** Last-resort synchronous kill (process 'exit' handler): no waiting is possible there. */
export function killAllNow(): void {
  for (const p of live) {
    try {
      p.child.kill('SIGKILL');
    } catch {}
  }
  live.clear();
}

let clkTck: number | undefined;
function ticksPerSecond(): number {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 2000 }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** User + system CPU time of a process in microseconds (from /proc/<pid>/stat). */
export function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may itself contain spaces.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(rest[11]) + Number(rest[12]);
  return (ticks * 1e6) / ticksPerSecond();
}

/** Resident set size of a process in KiB (VmRSS from /proc/<pid>/status). */
export function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}
