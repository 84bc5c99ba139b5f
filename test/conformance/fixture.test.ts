/**
 * The official conformance suite (0.1.16, `--suite all`) against our own
 * fixture over HTTP: the fixture must pass every check directly, or the
 * gateway comparison of `npm run conformance` would measure nothing.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startHttpFixture } from '../fixtures/conformance/http.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SHIM = join(ROOT, 'test/conformance/globsync-shim.mjs');
const SUITE = join(ROOT, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');
const SUITE_TIMEOUT_MS = 50_000;

test('conformance 0.1.16 --suite all passes directly against the fixture', async () => {
  const fixture = await startHttpFixture(0);
  after(() => fixture.close());
  const outDir = mkdtempSync(join(tmpdir(), 'portcullis-fixture-conformance-'));
  after(() => rmSync(outDir, { recursive: true, force: true }));

  const child = spawn(
    process.execPath,
    ['--import', SHIM, SUITE, 'server', '--url', fixture.url, '--suite', 'all', '-o', outDir],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const watchdog = setTimeout(() => child.kill('SIGKILL'), SUITE_TIMEOUT_MS);
  after(() => {
    clearTimeout(watchdog);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  const exitCode = await new Promise<number | null>((resolveExit) => child.once('close', (code) => resolveExit(code)));
  clearTimeout(watchdog);

  const totals = /Total: (\d+) passed, (\d+) failed/.exec(output);
  assert.ok(totals, `no totals line in suite output:\n${output.slice(-2000)}`);
  assert.equal(Number(totals[2]), 0, `suite reported failures:\n${output.slice(-4000)}`);
  assert.ok(Number(totals[1]) > 0, 'suite reported no passing checks');
  assert.equal(exitCode, 0, `suite exited ${exitCode}:\n${output.slice(-2000)}`);
});
