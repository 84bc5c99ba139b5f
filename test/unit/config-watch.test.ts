import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { closeSync, copyFileSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { SnapshotHolder } from '../../src/config/holder.js';
import { loadConfigFile } from '../../src/config/load.js';
import { watchConfig, type WatchDirectory } from '../../src/config/watch.js';

/** A logger that keeps every line, so the test can wait for a specific event. */
function captureLogger() {
  const entries: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) entries.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return { log: pino({ level: 'info' }, sink), entries };
}

/** Polls until `cond` holds; fails after the deadline. */
async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const config = (port: number) => `gateway:\n  port: ${port}\nupstreams:\n  - {name: a, kind: stdio, command: a}\n`;

/** A config file (port 1111) in a fresh directory, its snapshot holder and a capturing logger. */
function watchedConfig(t: { after(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-watch-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'portcullis.yaml');
  writeFileSync(file, config(1111));
  const holder = new SnapshotHolder(loadConfigFile(file, {}));
  return { dir, file, holder, ...captureLogger() };
}

test('a valid edit swaps in a new version; a broken edit keeps the old snapshot', async (t) => {
  const { dir, file, holder, log, entries } = watchedConfig(t);
  const swaps: number[] = [];
  holder.onSwap((next) => swaps.push(next.version));

  const watcher = watchConfig(file, holder, log, { env: {}, debounceMs: 50 });
  t.after(() => watcher.close());
  await watcher.ready;

  writeFileSync(file, config(2222));
  await waitFor(() => holder.current.gateway.port === 2222, 'the first reload');
  assert.equal(holder.current.version, 2);
  assert.deepEqual(swaps, [2]);
  const reloaded = entries.find((e) => e.msg === 'config.reloaded');
  assert.equal(reloaded?.version, 2);

  const good = holder.current;
  writeFileSync(file, 'upstreams:\n  - name: a\n    kind: stdio\n');
  await waitFor(() => entries.some((e) => e.msg === 'config.reload_rejected'), 'the rejection');
  const rejected = entries.find((e) => e.msg === 'config.reload_rejected');
  assert.equal(rejected?.level, 40, 'logged at warn');
  assert.deepEqual(rejected?.issues, ['upstreams[0].command: required (line 2)']);
  assert.equal(holder.current, good, 'the old snapshot stays');

  // An emptied file (an editor between truncate and write) is not taken as "no upstreams".
  const before = entries.length;
  writeFileSync(file, '');
  await waitFor(() => entries.slice(before).some((e) => e.msg === 'config.reload_rejected'), 'the empty-file rejection');
  assert.deepEqual(entries.slice(before).find((e) => e.msg === 'config.reload_rejected')?.issues, ['(file): empty']);
  assert.equal(holder.current, good);

  // Saving by rename (as many editors do) is picked up too.
  const tmp = join(dir, 'portcullis.yaml.tmp');
  writeFileSync(tmp, config(3333));
  renameSync(tmp, file);
  await waitFor(() => holder.current.gateway.port === 3333, 'the reload after a rename');
  assert.equal(holder.current.version, 3);
});

test('close stops reloading', async (t) => {
  const { file, holder, log, entries } = watchedConfig(t);
  const watcher = watchConfig(file, holder, log, { env: {}, debounceMs: 50 });
  await watcher.ready;
  await watcher.close();
  writeFileSync(file, config(2222));
  // Nothing to wait for: give the (closed) watcher a few debounce periods, then check.
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(holder.current.version, 1);
  assert.equal(entries.length, 0);
});

test('every save is picked up, however the editor writes (in place, rename-over, truncate then write, delete and create, cp)', { timeout: 90_000 }, async (t) => {
  // The lost-watch sequence from review: an in-place write quickly followed by a rename-over
  // (`cp good cfg; sed -i …` then `sed … > tmp && mv tmp cfg`) left chokidar, watching the file
  // path, with no inotify watch: every later save went unnoticed. The safety-net poll is off
  // here so that the directory watch alone has to see each save.
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-watch-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'portcullis.yaml');
  const tmp = join(dir, '.portcullis.yaml.swp');
  const good = join(dir, 'good.yaml');
  writeFileSync(file, config(1000));
  const holder = new SnapshotHolder(loadConfigFile(file, {}));
  const { log, entries } = captureLogger();
  const watcher = watchConfig(file, holder, log, { env: {}, debounceMs: 50, pollMs: 0 });
  t.after(() => watcher.close());
  await watcher.ready;

  const applied = async (port: number, how: string): Promise<void> => {
    await waitFor(() => holder.current.gateway.port === port, `port ${port} after ${how}`, 5_000);
  };
  let port = 1000;
  for (let i = 0; i < 5; i++) {
    // In place, then at once a rename-over: only the last content has to win.
    writeFileSync(file, config(++port));
    writeFileSync(tmp, config(++port));
    renameSync(tmp, file);
    await applied(port, `in-place + rename-over (iteration ${i})`);

    // Truncate, a pause shorter than the debounce, then write, on the same inode.
    const fd = openSync(file, 'r+');
    try {
      ftruncateSync(fd, 0);
      await sleep(10);
      writeSync(fd, config(++port));
    } finally {
      closeSync(fd);
    }
    await applied(port, `truncate then write (iteration ${i})`);

    // Delete and create.
    unlinkSync(file);
    writeFileSync(file, config(++port));
    await applied(port, `delete + create (iteration ${i})`);

    // cp over the file (in place), then a rename-over again right after.
    writeFileSync(good, config(++port));
    copyFileSync(good, file);
    await applied(port, `cp (iteration ${i})`);
    writeFileSync(tmp, config(++port));
    renameSync(tmp, file);
    await applied(port, `rename-over (iteration ${i})`);
  }
  assert.equal(entries.filter((e) => e.msg === 'config.watch_error').length, 0);
});

test('the stat poll catches a change no directory event names (a symlinked file edited elsewhere)', { timeout: 30_000 }, async (t) => {
  // Kubernetes ConfigMap style: the config path is a symlink into a data directory, and an
  // update swaps the link; the directory watch sees only the data directory's entries.
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-watch-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'v1'));
  mkdirSync(join(dir, 'v2'));
  writeFileSync(join(dir, 'v1', 'portcullis.yaml'), config(1111));
  writeFileSync(join(dir, 'v2', 'portcullis.yaml'), config(2222));
  symlinkSync('v1', join(dir, '..data'));
  const file = join(dir, 'portcullis.yaml');
  symlinkSync(join('..data', 'portcullis.yaml'), file);
  const holder = new SnapshotHolder(loadConfigFile(file, {}));
  const { log } = captureLogger();
  const watcher = watchConfig(file, holder, log, { env: {}, debounceMs: 20, pollMs: 100 });
  t.after(() => watcher.close());
  await watcher.ready;

  symlinkSync('v2', join(dir, '..data.tmp'));
  renameSync(join(dir, '..data.tmp'), join(dir, '..data'));
  await waitFor(() => holder.current.gateway.port === 2222, 'the reload after the link swap', 5_000);
  // Edited in place behind the link, in a directory nobody watches.
  writeFileSync(join(dir, 'v2', 'portcullis.yaml'), config(3333));
  await waitFor(() => holder.current.gateway.port === 3333, 'the reload after an edit behind the link', 5_000);
});

test('a watcher error is logged, the watch is set up again, and saves keep being picked up', { timeout: 30_000 }, async (t) => {
  const { dir, file, holder, log, entries } = watchedConfig(t);
  // A stand-in for fs.watch that the test can break.
  const made: (EventEmitter & { closed: boolean; close(): void })[] = [];
  const fake: WatchDirectory = (watched) => {
    assert.equal(watched, dir);
    const w = Object.assign(new EventEmitter(), {
      closed: false,
      close() {
        this.closed = true;
      },
    });
    made.push(w);
    return w;
  };
  const watcher = watchConfig(file, holder, log, { env: {}, debounceMs: 20, pollMs: 100, watchDirectory: fake });
  t.after(() => watcher.close());
  await watcher.ready;
  assert.equal(made.length, 1);

  made[0]!.emit('error', Object.assign(new Error('inotify went away'), { code: 'EIO' }));
  const logged = entries.find((e) => e.msg === 'config.watch_error');
  assert.equal(logged?.level, 40, 'logged at warn');
  assert.equal(logged?.err, 'inotify went away');
  assert.ok(made[0]!.closed, 'the broken watcher is closed');
  // The next poll sets up a new watch and says so.
  await waitFor(() => made.length === 2 && entries.some((e) => e.msg === 'config.watch_restored'), 'a new watch');
  // The directory watch never fires here: the poll alone must see the save.
  writeFileSync(file, config(2222));
  await waitFor(() => holder.current.gateway.port === 2222, 'the reload seen by the poll', 5_000);
  // An event from the new watch triggers a reload too.
  writeFileSync(file, config(3333));
  made[1]!.emit('change', 'change', 'portcullis.yaml');
  await waitFor(() => holder.current.gateway.port === 3333, 'the reload after the event', 5_000);
  await watcher.close();
  assert.ok(made[1]!.closed, 'close closes the watch');
});
