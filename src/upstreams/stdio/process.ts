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

/** A running (or finished) child with its pipes, exit promise and graceful stop. */
export class StdioProcess {
  readonly child: Child;
  /** Resolves once, when the child has exited or failed to start. Never rejects. */
  readonly exited: Promise<ExitInfo>;
  private exitInfo: ExitInfo | undefined;
  private stopping: Promise<void> | undefined;

  constructor(private readonly opts: SpawnOptions) {
    const { name, command, args, cwd, env, log } = opts;
    // Never a shell: metacharacters in args stay literal argv entries (D1).
    this.child = spawn(command, [...args], { shell: false, cwd, env, stdio: ['pipe', 'pipe', 'pipe'], detached: process.platform !== 'win32', windowsHide: true });
    // argv is counted, not printed: ${ENV} interpolation may have put a credential in it.
    log.info({ upstream: name, pid: this.child.pid, command, argc: args.length, cwd }, 'stdio upstream spawned');
    const untrack = trackChild({
      label: name,
      pid: this.child.pid,
      stop: (graceMs) => this.stop(graceMs),
      kill: () => this.signal('SIGKILL'),
    });
    this.exited = new Promise<ExitInfo>((resolve) => {
      const done = (info: ExitInfo): void => {
        if (this.exitInfo) return;
        this.exitInfo = info;
        untrack();
        resolve(info);
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

  stop(graceMs: number): Promise<void> {
    this.stopping ??= this.runStop(graceMs);
    return this.stopping;
  }

  private async runStop(graceMs: number): Promise<void> {
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
