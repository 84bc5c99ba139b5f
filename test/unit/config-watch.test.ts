import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { SnapshotHolder } from '../../src/config/holder.js';
import { loadConfigFile } from '../../src/config/load.js';
import { watchConfig } from '../../src/config/watch.js';

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

const config = (port: number) => `gateway:\n  port: ${port}\nupstreams:\n  - {name: a, kind: stdio, command: a}\n`;

test('a valid edit swaps in a new version; a broken edit keeps the old snapshot', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-watch-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'portcullis.yaml');
  writeFileSync(file, config(1111));
  const holder = new SnapshotHolder(loadConfigFile(file, {}));
  const { log, entries } = captureLogger();
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
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-watch-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'portcullis.yaml');
  writeFileSync(file, config(1111));
  const holder = new SnapshotHolder(loadConfigFile(file, {}));
  const { log, entries } = captureLogger();
  const watcher = watchConfig(file, holder, log, { env: {}, debounceMs: 50 });
  await watcher.ready;
  await watcher.close();
  writeFileSync(file, config(2222));
  // Nothing to wait for: give the (closed) watcher a few debounce periods, then check.
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(holder.current.version, 1);
  assert.equal(entries.length, 0);
});
