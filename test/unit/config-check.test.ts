/**
 * `portcullis config check` on the values that used to slip through the schema: a duration
 * longer than a timer can wait, a zero size, and a file with several YAML documents. Each is
 * exit 1 with one `path: message (line N)` line, never a bare `error:` without a location.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkConfig } from '../../src/cli/config-check.js';

function check(t: { after(fn: () => void): void }, text: string): { code: number; out: string[]; err: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-check-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'portcullis.yaml');
  writeFileSync(file, text);
  const out: string[] = [];
  const err: string[] = [];
  const code = checkConfig(file, {}, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

const stdio = (extra: string): string => `upstreams:\n  - name: a\n    kind: stdio\n    command: node\n${extra}`;

test('config check: a duration above 2^31−1 ms is exit 1 with its path and line', (t) => {
  const r = check(t, `gateway:\n  shutdownGrace: 30d\n${stdio('    maxLifetime: 30d\n')}`);
  assert.equal(r.code, 1);
  assert.deepEqual(r.out, []);
  assert.deepEqual(r.err, [
    'gateway.shutdownGrace: at most 24d (2147483647 ms, the longest timer Node.js can set) (line 2)',
    'upstreams[0].maxLifetime: at most 24d (2147483647 ms, the longest timer Node.js can set) (line 7)',
  ]);
  assert.equal(check(t, stdio('    maxLifetime: 24d\n')).code, 0);
});

test('config check: a zero size is exit 1 with its path and line', (t) => {
  for (const zero of ['0kb', '0b', '0mb']) {
    const r = check(t, stdio(`    maxLineBytes: ${zero}\n`));
    assert.equal(r.code, 1, zero);
    assert.deepEqual(r.err, ['upstreams[0].maxLineBytes: must be more than 0 bytes (a size like 512kb or 1mb) (line 5)'], zero);
  }
});

test('config check: several YAML documents are exit 1 with the line of the second', (t) => {
  const r = check(t, `${stdio('')}---\nlog: {level: info}\n`);
  assert.equal(r.code, 1);
  assert.deepEqual(r.err, ["(yaml): a config file holds one YAML document, found a second one starting here (a '---' line starts a new document, a '...' line ends one) (line 5)"]);
});

test('config check: a file that is not regular, or larger than 4 MiB, is refused before it is read (exit 2)', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-check-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const big = join(dir, 'big.yaml');
  writeFileSync(big, `# ${'x'.repeat(4 * 1024 * 1024)}\n`);
  const cases: [string, RegExp][] = [
    ['/dev/zero', /^error: cannot read \/dev\/zero: not a regular file$/],
    [dir, /: not a regular file$/],
    [big, /big\.yaml: larger than 4 MiB$/],
  ];
  for (const [file, want] of cases) {
    const err: string[] = [];
    assert.equal(checkConfig(file, {}, { out: () => undefined, err: (l) => err.push(l) }), 2, file);
    assert.equal(err.length, 1);
    assert.match(err[0] as string, want);
  }
});
