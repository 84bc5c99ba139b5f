/**
 * Hot reload: watches the config file and swaps in a new snapshot when the file changes and
 * still compiles. A broken edit never takes the gateway down: the old snapshot stays and the
 * issues are logged, so the operator can fix the file and save again.
 */
import { readFile } from 'node:fs/promises';
import { watch } from 'chokidar';
import type { Logger } from '../observability/logger.js';
import { ConfigError, formatIssue, loadConfigText } from './load.js';
import type { SnapshotHolder } from './holder.js';

export interface ConfigWatcher {
  /** Resolves once the watcher is listening; edits before that may be missed. */
  ready: Promise<void>;
  /** Stops watching and waits for a reload in progress to finish. */
  close(): Promise<void>;
}

export interface WatchOptions {
  /** Environment for interpolation; default process.env (read at each reload). */
  env?: NodeJS.ProcessEnv;
  /** Quiet period after the last change event before reloading. Default 150 ms. */
  debounceMs?: number;
}

/**
 * Reloads `path` into `holder` on every change. Editors often save in several writes or by
 * rename, so events are debounced and reloads never overlap (a change during a reload queues
 * one more).
 */
export function watchConfig(path: string, holder: SnapshotHolder, log: Logger, opts: WatchOptions = {}): ConfigWatcher {
  const debounceMs = opts.debounceMs ?? 150;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  let closed = false;

  const reload = async (): Promise<void> => {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
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
    running = reload().finally(() => {
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

  const watcher = watch(path, { ignoreInitial: true, persistent: true });
  watcher.on('change', schedule);
  // Saving by rename shows up as unlink + add; the add is the new content.
  watcher.on('add', schedule);
  watcher.on('error', (err) => log.warn({ event: 'config.watch_error', path, err: (err as Error).message }, 'config.watch_error'));
  const ready = new Promise<void>((res) => watcher.once('ready', () => res()));

  return {
    ready,
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      await watcher.close();
      await running;
    },
  };
}
