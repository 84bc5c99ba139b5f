import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const entry = join(root, 'src/cli/index.ts');

/** Runs the CLI from source (no build needed) with an argv array and a bounded time. */
function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', entry, ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, PORTCULLIS_PORT: '', ...env },
  });
  assert.equal(r.error, undefined, String(r.error));
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('config check: a valid file exits 0 and prints a summary', (t) => {
  const file = join(tempDir(t), 'ok.yaml');
  writeFileSync(
    file,
    [
      'upstreams:',
      '  - {name: a, kind: stdio, command: a}',
      '  - {name: b, kind: streamable-http, url: "http://127.0.0.1:1/mcp"}',
      'virtualServers:',
      '  - {name: v, include: [{upstream: a}]}',
      '',
    ].join('\n'),
  );
  const r = cli(['config', 'check', file]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'ok: 2 upstreams, 1 virtual servers\n');
  assert.equal(r.stderr, '');
});

test('config check: an invalid file exits 1 with one line per issue on stderr', (t) => {
  const file = join(tempDir(t), 'bad.yaml');
  writeFileSync(
    file,
    [
      'upstreams:', //                     1
      '  - name: a', //                    2
      '    kind: stdio', //                3
      '    command: a', //                 4
      '  - name: b', //                    5
      '    kind: stdio', //                6
      '    command: b', //                 7
      '    timeouts: {total: forever}', // 8
      '  - name: c', //                    9
      '    kind: stdio', //                10
      '    args: [x]', //                  11
      '',
    ].join('\n'),
  );
  const r = cli(['config', 'check', file]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.deepEqual(r.stderr.trimEnd().split('\n'), [
    'upstreams[1].timeouts.total: duration like 500ms, 30s, 5m, 1h or 30d (line 8)',
    'upstreams[2].command: required (line 9)',
  ]);
});

test('config check: a missing env var and a bad PORTCULLIS_PORT are config errors (exit 1)', (t) => {
  const file = join(tempDir(t), 'env.yaml');
  writeFileSync(file, 'gateway:\n  host: ${PORTCULLIS_TEST_UNSET_HOST}\n');
  const r = cli(['config', 'check', file]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^gateway\.host: environment variable PORTCULLIS_TEST_UNSET_HOST is not set .*\(line 2\)\n$/);
  const ok = cli(['config', 'check', file], { PORTCULLIS_TEST_UNSET_HOST: '127.0.0.1', PORTCULLIS_PORT: 'http' });
  assert.equal(ok.code, 1);
  assert.equal(ok.stderr, 'PORTCULLIS_PORT: must be an integer from 0 to 65535\n');
});

test('config check: an unreadable file exits 2', (t) => {
  const dir = tempDir(t);
  const r = cli(['config', 'check', join(dir, 'nope.yaml')]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^error: cannot read .*nope\.yaml: ENOENT\n$/);
  const d = cli(['config', 'check', dir]);
  assert.equal(d.code, 2, 'a directory is not readable as a file');
});

test('--help lists the commands, and every command has its own help', () => {
  const top = cli(['--help']);
  assert.equal(top.code, 0);
  assert.match(top.stdout, /^Usage: portcullis /m);
  assert.match(top.stdout, /^\s+start \[options\]\s+Start the gateway\./m);
  assert.match(top.stdout, /^\s+config\s+Work with configuration files\./m);

  const start = cli(['start', '--help']);
  assert.equal(start.code, 0);
  assert.match(start.stdout, /--config <file>\s+the YAML config file \(default: "\.\/portcullis\.yaml"\)/);

  const config = cli(['config', '--help']);
  assert.equal(config.code, 0);
  assert.match(config.stdout, /check <file>\s+Validate a config file/);

  const check = cli(['config', 'check', '--help']);
  assert.equal(check.code, 0);
  assert.match(check.stdout, /^Usage: portcullis config check \[options\] <file>/m);
});

test('--version prints the package version; an unknown command exits non-zero', () => {
  const v = cli(['--version']);
  assert.equal(v.code, 0);
  assert.match(v.stdout, /^\d+\.\d+\.\d+/);
  const bad = cli(['frobnicate']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /unknown command 'frobnicate'/);
});
