/**
 * Hot reload: watches the config file and swaps in a new snapshot when the file changes and
 * still compiles. A broken edit never takes the gateway down: the old snapshot stays and the
 * issues are logged, so the operator can fix the file and save again.
 *
 * The watch is on the file's DIRECTORY, filtered to the file's name, never on the file itself: a
 * watch on the file follows one inode, and editors that save by rename (vim, sed -i, `mv tmp
 * cfg`) or by delete + create replace that inode, after which a per-file watch can be left
 * watching nothing (chokidar did: an in-place write quickly followed by a rename-over lost every
 * later save, silently). A low-frequency stat poll (inode, size, mtime, ctime) backs the watch
 * up: it catches what no directory event names (a symlinked file edited elsewhere, a Kubernetes
 * ConfigMap link swap), and it sets the directory watch up again after an error or when the
 * directory itself was replaced.
 */
import { statSync, watch as fsWatch } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { EventEmitter } from 'node:events';
import { basename, dirname, resolve } from 'node:path';
import type { Logger } from '../observability/logger.js';
import { ConfigError, formatIssue, loadConfigText, readConfigFile } from './load.js';
import type { SnapshotHolder } from './holder.js';

export interface ConfigWatcher {
  /** Resolves once the watcher is listening; edits before that may be missed. */
  ready: Promise<void>;
  /** Stops watching and waits for a reload in progress to finish. */
  close(): Promise<void>;
}

/**
 * Watches a directory, calling `listener` with the name of the entry an event is about (null when
 * the platform does not say). Emits 'error' when the watch breaks. node:fs.watch by default.
 */
export type WatchDirectory = (dir: string, listener: (eventType: string, filename: string | null) => void) => EventEmitter & { close(): void };

export interface WatchOptions {
  /** Environment for interpolation; default process.env (read at each reload). */
  env?: NodeJS.ProcessEnv;
  /** Quiet period after the last change event before reloading. Default 150 ms. */
  debounceMs?: number;
  /**
   * Period of the safety-net stat poll of the file and its directory; 0 turns the poll off (and
   * with it the re-creation of a broken directory watch). Default 1000 ms.
   */
  pollMs?: number;
  /** Stands in for node:fs.watch on the directory (tests). */
  watchDirectory?: WatchDirectory;
}

const defaultWatchDirectory: WatchDirectory = (dir, listener) => fsWatch(dir, { persistent: true }, (eventType, filename) => listener(eventType, filename));

/** What identifies one version of the file: a change to any part means "read it again". */
function signatureOf(s: { dev: number; ino: number; size: number; mtimeMs: number; ctimeMs: number }): string {
  return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
}

async function fileSignature(path: string): Promise<string> {
  try {
    return signatureOf(await stat(path));
  } catch (e) {
    return `error:${(e as NodeJS.ErrnoException).code ?? 'unknown'}`;
  }
}

/** The directory's identity: a different one means the directory was replaced and needs a new watch. */
function dirIdentity(s: { dev: number; ino: number } | undefined): string {
  return s === undefined ? 'missing' : `${s.dev}:${s.ino}`;
}

/** Reads the file and the signature of exactly the inode that was read. */
async function readWithSignature(path: string): Promise<{ text: string; signature: string }> {
  let signature = '';
  // A bounded synchronous read: a config file is small (at most 4 MiB, else refused).
  const text = readConfigFile(path, (st) => (signature = signatureOf(st)));
  return { text, signature };
}

/**
 * Reloads `path` into `holder` on every change. Editors often save in several writes or by
 * rename, so events are debounced and reloads never overlap (a change during a reload queues
 * one more, at most one). Everything is bounded: one debounce timer, one pending-reload flag,
 * one directory watch, one poll in flight.
 */
export function watchConfig(path: string, holder: SnapshotHolder, log: Logger, opts: WatchOptions = {}): ConfigWatcher {
  const debounceMs = opts.debounceMs ?? 150;
  const pollMs = opts.pollMs ?? 1000;
  const watchDirectory = opts.watchDirectory ?? defaultWatchDirectory;
  const dir = dirname(resolve(path));
  const name = basename(path);
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  let closed = false;
  /** Signature of the file as last read or polled; the poll reloads when it differs. */
  let lastSignature: string | undefined;

  const reload = async (): Promise<void> => {
    let text: string;
    try {
      const read = await readWithSignature(path);
      text = read.text;
      lastSignature = read.signature;
    } catch (e) {
      lastSignature = await fileSignature(path);
      log.warn({ event: 'config.reload_rejected', path, err: (e as Error).message }, 'config.reload_rejected');
      return;
    }
    if (closed) return;
    const previous = holder.current;
    // An empty file is a valid config (no upstreams), but on reload it is far more likely an
    // editor caught between truncate and write: never drop every upstream on that evidence.
    if (text.trim() === '') {
      log.warn({ event: 'config.reload_rejected', path, version: previous.version, issues: ['(file): empty'] }, 'config.reload_rejected');
      return;
    }
    try {
      const next = loadConfigText(text, { path, env: opts.env ?? process.env, version: previous.version + 1 });
      holder.swap(next);
      log.info({ event: 'config.reloaded', path, version: next.version, previousVersion: previous.version }, 'config.reloaded');
    } catch (e) {
      const issues = e instanceof ConfigError ? e.issues.map(formatIssue) : [(e as Error).message];
      log.warn({ event: 'config.reload_rejected', path, version: previous.version, issues }, 'config.reload_rejected');
    }
  };

  const run = (): void => {
    timer = undefined;
    if (closed) return;
    if (running) {
      again = true;
      return;
    }
    running = reload()
      .catch((e: unknown) => log.warn({ event: 'config.reload_rejected', path, err: (e as Error).message }, 'config.reload_rejected'))
      .finally(() => {
        running = undefined;
        if (again && !closed) {
          again = false;
          schedule();
        }
      });
  };

  const schedule = (): void => {
    if (closed) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(run, debounceMs);
  };

  // --- the directory watch -------------------------------------------------------------------
  let dirWatcher: (EventEmitter & { close(): void }) | undefined;
  let watchedDir: string | undefined;
  /** Set while the watch is broken, so a failure is logged once, not on every poll. */
  let watchBroken = false;

  const stopDirWatch = (): void => {
    const w = dirWatcher;
    dirWatcher = undefined;
    watchedDir = undefined;
    if (w) {
      try {
        w.close();
      } catch {
        // Already gone; nothing to release.
      }
    }
  };

  const watchFailed = (err: unknown): void => {
    stopDirWatch();
    if (watchBroken) return;
    watchBroken = true;
    const message = err instanceof Error ? err.message : String(err);
    const impact = pollMs > 0 ? `saves are still seen by the ${pollMs} ms poll, and the watch is retried` : 'saves are not seen until the gateway restarts (the poll is off)';
    log.warn({ event: 'config.watch_error', path, dir, err: message, impact }, 'config.watch_error');
  };

  const startDirWatch = (identity: string): void => {
    if (closed) return;
    stopDirWatch();
    try {
      const w = watchDirectory(dir, (_eventType, filename) => {
        if (filename === null || filename === name) schedule();
      });
      w.on('error', (err: unknown) => {
        if (dirWatcher === w) watchFailed(err);
      });
      dirWatcher = w;
      watchedDir = identity;
      if (watchBroken) {
        watchBroken = false;
        log.info({ event: 'config.watch_restored', path, dir }, 'config.watch_restored');
        // Whatever happened while the watch was down: read the file again.
        schedule();
      }
    } catch (e) {
      // e.g. ENOENT (the directory is gone) or ENOSPC (the inotify watch limit).
      watchFailed(e);
    }
  };

  // --- the safety-net poll -------------------------------------------------------------------
  let pollTimer: NodeJS.Timeout | undefined;
  let polling: Promise<void> | undefined;

  const poll = async (): Promise<void> => {
    const before = lastSignature;
    const [signature, dirStat] = await Promise.all([fileSignature(path), stat(dir).catch(() => undefined)]);
    if (closed) return;
    // Compared only with what was known before this stat: a reload that finished meanwhile has
    // already recorded what it read, and an older stat must not make it read the file again.
    if (lastSignature === before && signature !== before) {
      lastSignature = signature;
      schedule();
    }
    if (dirStat === undefined) return;
    const identity = dirIdentity(dirStat);
    if (dirWatcher === undefined) {
      startDirWatch(identity);
    } else if (watchedDir !== identity) {
      // The directory was replaced (its inode changed): the old watch sees nothing any more.
      log.info({ event: 'config.watch_restored', path, dir, reason: 'directory replaced' }, 'config.watch_restored');
      startDirWatch(identity);
      schedule();
    }
  };

  const nextPoll = (): void => {
    if (closed || pollMs <= 0) return;
    pollTimer = setTimeout(() => {
      pollTimer = undefined;
      polling = poll()
        .catch((e: unknown) => log.warn({ event: 'config.watch_error', path, err: (e as Error).message }, 'config.watch_error'))
        .finally(() => {
          polling = undefined;
          nextPoll();
        });
    }, pollMs);
    // The poll alone never keeps the process alive; the directory watch does, as before.
    pollTimer.unref();
  };

  let initialDir: string;
  try {
    initialDir = dirIdentity(statSync(dir));
  } catch {
    initialDir = 'missing';
  }
  startDirWatch(initialDir);
  const ready = fileSignature(path).then((s) => {
    lastSignature ??= s;
    nextPoll();
  });

  return {
    ready,
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (pollTimer) clearTimeout(pollTimer);
      pollTimer = undefined;
      stopDirWatch();
      await ready;
      await polling;
      await running;
    },
  };
}
