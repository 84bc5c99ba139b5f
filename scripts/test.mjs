#!/usr/bin/env node
// The one test command (`npm test`): lint, type-check, then every test file with node's test
// runner. Suites that need PostgreSQL or Redis run when their URL is set (PORTCULLIS_TEST_PG_URL,
// PORTCULLIS_TEST_REDIS_URL) and are reported as skipped otherwise; .ci/run sets both.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
const bin = (name) => join(root, 'node_modules', '.bin', name);

const only = process.argv.slice(2);
if (only.length === 0) {
  console.log('» lint');
  run(bin('eslint'), ['.']);
  console.log('» type-check');
  run(bin('tsc'), ['-p', 'tsconfig.json', '--noEmit']);
}

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out;
}
let files = walk(join(root, 'test'));
if (only.length) files = files.filter((f) => only.some((o) => f.includes(o)));
const needs = { '.pg.test.ts': 'PORTCULLIS_TEST_PG_URL', '.redis.test.ts': 'PORTCULLIS_TEST_REDIS_URL' };
const skipped = [];
files = files.filter((f) => {
  for (const [suffix, env] of Object.entries(needs)) {
    if (f.endsWith(suffix) && !process.env[env]) {
      skipped.push(`${f} (needs ${env})`);
      return false;
    }
  }
  return true;
});
if (skipped.length) console.log(`» skipped suites, service URL not set:\n  ${skipped.join('\n  ')}`);
console.log(`» ${files.length} test files`);
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=120000', ...files], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, PORTCULLIS_LOG_LEVEL: process.env.PORTCULLIS_LOG_LEVEL ?? 'silent' },
});
process.exit(r.status ?? 1);
