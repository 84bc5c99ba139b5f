/**
 * One supervised child process for a stdio upstream. Spawning follows security checklist D1: an
 * argv array with no shell, an environment built from an allowlist, cwd from config, and a log
 * line for every spawn (command, argument count, cwd — never env values or argument values, which
 * can carry credentials). stderr is
 * free-form logging (spec, basic/transports/stdio), so it is logged, cut and rate-limited, never
 * treated as an error signal.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import type { Logger } from '../../observability/logger.js';
import { trackChild } from '../children.js';
import { LineSplitter } from './framing.js';
import { groupHasLiveMember, readProcStat } from './process-group.js';

export interface SpawnOptions {
  /** Upstream name, for logs. */
  name: string;
  command: string;
  args: readonly string[];
  cwd: string;
  env: Record<string, string>;
  log: Logger;
  /** Longest stderr line logged; the rest of the line is cut. Default 2 KB. */
  stderrLineBytes?: number;
  /** stderr lines logged per second; the rest are counted and reported as suppressed. Default 50. */
  stderrLinesPerSecond?: number;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all (e.g. ENOENT). */
  error?: Error;
}

type Child = ChildProcessByStdio<Writable, Readable, Readable>;

/** Grace between SIGTERM and SIGKILL for processes a child left in its group, outside stop(). */
const GROUP_GRACE_MS = 2_000;
/** How often the group is checked for leftovers while they are given their grace. */
const GROUP_POLL_MS = 50;

/** A running (or finished) child with its pipes, exit promise and graceful stop. */
export class StdioProcess {
  readonly child: Child;
  /** Resolves once, when the child has exited or failed to start. Never rejects. */
  readonly exited: Promise<ExitInfo>;
  /** Resolves once the child and every process left in its process group are gone. */
  private readonly gone: Promise<void>;
  private exitInfo: ExitInfo | undefined;
  private stopping: Promise<void> | undefined;
  /** Grace for the group's leftovers between SIGTERM and SIGKILL: stop()'s, else this default. */
  private groupGraceMs = GROUP_GRACE_MS;

  constructor(private readonly opts: SpawnOptions) {
    const { name, command, args, cwd, env, log } = opts;
    // Never a shell: metacharacters in args stay literal argv entries (D1).
    this.child = spawn(command, [...args], { shell: false, cwd, env, stdio: ['pipe', 'pipe', 'pipe'], detached: process.platform !== 'win32', windowsHide: true });
    // argv is counted, not printed: ${ENV} interpolation may have put a credential in it.
    log.info({ upstream: name, pid: this.child.pid, command, argc: args.length, cwd }, 'stdio upstream spawned');
    // Read now, before control returns to the event loop: until then the child cannot have been
    // reaped, so its /proc entry (a zombie at worst) still holds this start time. The child
    // ledger needs it to tell this child from a later process reusing its pid.
    const stat = this.child.pid === undefined ? 'gone' : readProcStat(this.child.pid);
    const untrack = trackChild({
      label: name,
      pid: this.child.pid,
      starttime: typeof stat === 'object' ? stat.starttime : undefined,
      stop: (graceMs) => this.stop(graceMs),
      kill: () => this.signal('SIGKILL'),
    });
    let markGone: () => void = () => undefined;
    this.gone = new Promise<void>((resolve) => (markGone = resolve));
    void this.gone.then(untrack);
    this.exited = new Promise<ExitInfo>((resolve) => {
      const done = (info: ExitInfo): void => {
        if (this.exitInfo) return;
        this.exitInfo = info;
        resolve(info);
        // The leader is gone; what it started in its group (a wrapper's real server, a helper)
        // must not outlive it, whether it exited on EOF or crashed. Tracked until then.
        void this.reapGroup(this.groupGraceMs).then(markGone);
      };
      this.child.once('exit', (code, signal) => done({ code, signal }));
      this.child.on('error', (err) => {
        // 'error' also fires for a failed kill or write on a live child; only a missing pid means no process.
        if (this.child.pid === undefined) done({ code: null, signal: null, error: err });
        else log.warn({ upstream: name, pid: this.child.pid, err: err.message }, 'stdio upstream process error');
      });
    });
    // An EPIPE on a pipe of a dying child must not become an uncaught exception.
    this.child.stdin.on('error', () => {});
    this.child.stdout.on('error', () => {});
    this.child.stderr.on('error', () => {});
    this.pipeStderr();
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** The exit status, once the child has exited. */
  get exit(): ExitInfo | undefined {
    return this.exitInfo;
  }

  /**
   * Graceful stop (spec, basic/transports/stdio, shutdown): close stdin, wait `graceMs`, SIGTERM,
   * wait `graceMs`, SIGKILL. Resolves when the child has exited. Idempotent.
   */
  /**
   * Signals the child's whole process group (it leads its own, spawned detached): a wrapper
   * such as a package runner must not leave the real server behind as an orphan.
   */
  private signal(sig: NodeJS.Signals): void {
    const pid = this.child.pid;
    try {
      if (pid !== undefined && process.platform !== 'win32') process.kill(-pid, sig);
      else this.child.kill(sig);
    } catch {
      this.child.kill(sig);
    }
  }

  /** Resolves when the child and its process group are gone. */
  stop(graceMs: number): Promise<void> {
    this.stopping ??= this.runStop(graceMs).then(() => this.gone);
    return this.stopping;
  }

  /** True while a live process is in the child's process group (the child leads its own). */
  private groupAlive(): boolean {
    const pid = this.child.pid;
    return pid !== undefined && groupHasLiveMember(pid);
  }

  /**
   * After the leader's exit: SIGTERM to what is left of its group, `graceMs`, then SIGKILL. The
   * kernel keeps the group id from being reused while a member lives, so signalling it is safe
   * until the first check that finds it empty; polling stops there.
   */
  private async reapGroup(graceMs: number): Promise<void> {
    if (!this.groupAlive()) return;
    this.opts.log.info({ upstream: this.opts.name, pid: this.pid }, 'stdio upstream exited and left processes in its group: SIGTERM');
    this.signal('SIGTERM');
    if (await this.waitGroup(graceMs)) return;
    this.opts.log.warn({ upstream: this.opts.name, pid: this.pid }, 'processes of a stdio upstream ignored SIGTERM: SIGKILL');
    this.signal('SIGKILL');
    if (!(await this.waitGroup(2_000))) this.opts.log.warn({ upstream: this.opts.name, pid: this.pid }, 'processes of a stdio upstream survived SIGKILL');
  }

  /** Polls until the group is empty (true) or `ms` passed (false). */
  private async waitGroup(ms: number): Promise<boolean> {
    const end = Date.now() + ms;
    for (;;) {
      if (!this.groupAlive()) return true;
      if (Date.now() >= end) return false;
      await new Promise((r) => setTimeout(r, GROUP_POLL_MS));
    }
  }

  private async runStop(graceMs: number): Promise<void> {
    this.groupGraceMs = graceMs;
    if (this.exitInfo) return;
    this.child.stdin.end();
    if (await this.waitExit(graceMs)) return;
    this.opts.log.info({ upstream: this.opts.name, pid: this.pid }, 'stdio upstream did not exit on EOF: SIGTERM');
    this.signal('SIGTERM');
    if (await this.waitExit(graceMs)) return;
    this.opts.log.warn({ upstream: this.opts.name, pid: this.pid }, 'stdio upstream ignored SIGTERM: SIGKILL');
    this.signal('SIGKILL');
    // SIGKILL cannot be ignored; the bound only guards against a process stuck in the kernel.
    await this.waitExit(10_000);
  }

  private waitExit(ms: number): Promise<boolean> {
    if (this.exitInfo) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), ms);
      void this.exited.then(() => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  private pipeStderr(): void {
    const { name, log } = this.opts;
    const maxLine = this.opts.stderrLineBytes ?? 2048;
    const perSecond = this.opts.stderrLinesPerSecond ?? 50;
    const pid = this.child.pid;
    let windowStart = 0;
    let inWindow = 0;
    let suppressed = 0;
    const emit = (text: string, cut: boolean): void => {
      const now = Date.now();
      if (now - windowStart >= 1000) {
        if (suppressed > 0) log.info({ upstream: name, pid, suppressed }, 'stdio upstream stderr lines suppressed');
        windowStart = now;
        inWindow = 0;
        suppressed = 0;
      }
      if (inWindow >= perSecond) {
        suppressed++;
        return;
      }
      inWindow++;
      log.info({ upstream: name, pid, stderr: text, ...(cut ? { truncated: true } : {}) }, 'upstream stderr');
    };
    const splitter = new LineSplitter(
      maxLine,
      (line) => {
        const text = line.toString('utf8').replace(/\r$/, '');
        if (text.length > 0) emit(text, false);
      },
      (head) => emit(head.toString('utf8'), true),
    );
    this.child.stderr.on('data', (c: Buffer) => splitter.push(c));
    this.child.stderr.on('end', () => {
      splitter.end();
      if (suppressed > 0) log.info({ upstream: name, pid, suppressed }, 'stdio upstream stderr lines suppressed');
    });
  }
}

/** Spawns a stdio upstream process (see StdioProcess). */
export function spawnStdioProcess(opts: SpawnOptions): StdioProcess {
  return new StdioProcess(opts);
}
