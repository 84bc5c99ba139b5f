#!/usr/bin/env node
/**
 * The client half of the official conformance suite against the gateway's upstream OAuth client
 * (src/auth/upstream-oauth, driven by test/conformance/auth-client.ts): every `auth/*` client
 * scenario of
 *   - 0.1.16: `--suite auth` (the scored set), `backcompat`, `draft`, `extensions`;
 *   - 0.2.0-alpha: the same suites, which add RFC 9207 `iss` and authorization-server migration.
 * Scenarios that are not `auth/*` (the alpha draft suite mixes some in) are ignored.
 *
 * A scenario passes when its checks.json has no FAILURE and no WARNING (the suite's own rule in
 * suite mode). Exit 1 when a scenario fails that test/conformance/expected-auth-failures.yaml does
 * not list, when a listed scenario passes (stale entry), or when a run does not complete.
 *
 * Options:
 *   --run <key>   only this run (repeatable): 0.1.16, alpha
 *   --suite <s>   only this suite (repeatable): auth, backcompat, draft, extensions
 *   --out <dir>   write suite output below <dir> (default: a fresh temp dir)
 *
 * Every suite process runs in its own process group, is bounded in time and killed on every exit
 * path; at most two run at once (each starts one client process per scenario).
 */
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { children, killAllNow, killGroup, reapChildrenOnExit } from './lib/children.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SHIM = join(ROOT, 'test/conformance/globsync-shim.mjs');
const EXPECTED = join(ROOT, 'test/conformance/expected-auth-failures.yaml');
const CLIENT_COMMAND = 'node --import tsx test/conformance/auth-client.ts';
const BINS = {
  '0.1.16': join(ROOT, 'node_modules/@modelcontextprotocol/conformance/dist/index.js'),
  alpha: join(ROOT, 'node_modules/conformance-alpha/dist/index.js'),
};
const SUITES = ['auth', 'backcompat', 'draft', 'extensions'];
const SUITE_TIMEOUT_MS = 4 * 60_000;
const OVERALL_TIMEOUT_MS = 15 * 60_000;
const SCENARIO_TIMEOUT_MS = 30_000;
const KILL_GRACE_MS = 2_000;
const PARALLEL = 2;

// ------------------------------------------------------------------ options

function parseArgs(argv) {
  const o = { runs: [], suites: [], out: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      const v = argv[++i];
      if (v === undefined) usage(`${a} needs a value`);
      return v;
    };
    if (a === '--run') o.runs.push(next());
    else if (a === '--suite') o.suites.push(next());
    else if (a === '--out') o.out = resolve(next());
    else usage(`unknown option ${a}`);
  }
  for (const r of o.runs) if (!(r in BINS)) usage(`unknown run ${r}`);
  for (const s of o.suites) if (!SUITES.includes(s)) usage(`unknown suite ${s}`);
  return o;
}

function usage(msg) {
  process.stderr.write(`conformance-auth: ${msg}\nusage: node scripts/conformance-auth.mjs [--run 0.1.16|alpha]... [--suite auth|backcompat|draft|extensions]... [--out DIR]\n`);
  process.exit(2);
}

// ---------------------------------------------------------------- processes

reapChildrenOnExit();
const watchdog = setTimeout(() => {
  process.stderr.write(`\nconformance-auth: over the ${OVERALL_TIMEOUT_MS / 60_000} min bound, giving up\n`);
  killAllNow();
  process.exit(1);
}, OVERALL_TIMEOUT_MS);
watchdog.unref();

/** Runs one suite process (no shell) to completion or its deadline; resolves with its stdout. */
function runSuite(run, suite, outDir) {
  const argv = ['--import', SHIM, BINS[run], 'client', '--suite', suite, '--command', CLIENT_COMMAND, '--timeout', String(SCENARIO_TIMEOUT_MS), '-o', outDir];
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, argv, { cwd: ROOT, env: { ...process.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    children.set(child.pid, child);
    const log = createWriteStream(join(outDir, 'suite.log'));
    child.stderr.pipe(log, { end: false });
    let stdout = '';
    child.stdout.on('data', (c) => {
      stdout += c.toString('utf8');
      log.write(c);
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid, 'SIGTERM');
      setTimeout(() => killGroup(child.pid, 'SIGKILL'), KILL_GRACE_MS).unref();
    }, SUITE_TIMEOUT_MS);
    const done = (code) => {
      clearTimeout(timer);
      children.delete(child.pid);
      // Clients the suite started live in this group too.
      killGroup(child.pid, 'SIGKILL');
      log.end();
      resolveRun({ code, stdout, timedOut });
    };
    child.once('close', (code) => done(code));
    child.once('error', () => done(null));
  });
}

// ------------------------------------------------------------------ results

/** scenario -> {passed, failed, warnings, failures[]} from `<dir>/auth/<scenario>-<timestamp>/checks.json`. */
function readResults(outDir) {
  const results = new Map();
  const authDir = join(outDir, 'auth');
  if (!existsSync(authDir)) return results;
  for (const d of readdirSync(authDir)) {
    const file = join(authDir, d, 'checks.json');
    if (!existsSync(file)) continue;
    const scenario = `auth/${d.replace(/-\d{4}-\d{2}-\d{2}T[\d-]+Z$/, '')}`;
    const checks = JSON.parse(readFileSync(file, 'utf8'));
    const count = (s) => checks.filter((c) => c.status === s).length;
    results.set(scenario, {
      passed: count('SUCCESS'),
      failed: count('FAILURE'),
      warnings: count('WARNING'),
      failures: checks.filter((c) => c.status === 'FAILURE' || c.status === 'WARNING').map((c) => c.id),
    });
  }
  return results;
}

/** The scenarios the suite said it would run (its "Running X suite (N scenarios)" line gives the count). */
function announcedCount(stdout) {
  const m = /Running \S+ suite \((\d+) scenarios\)/.exec(stdout);
  return m ? Number(m[1]) : undefined;
}

function loadExpected() {
  const doc = parseYaml(readFileSync(EXPECTED, 'utf8')) ?? [];
  if (!Array.isArray(doc)) throw new Error(`${EXPECTED}: expected a list`);
  for (const e of doc) {
    if (typeof e?.scenario !== 'string' || typeof e?.reason !== 'string' || e.reason.trim() === '') throw new Error(`${EXPECTED}: every entry needs scenario and reason`);
    if (e.run !== undefined && !(e.run in BINS)) throw new Error(`${EXPECTED}: unknown run ${e.run}`);
  }
  return doc;
}

// --------------------------------------------------------------------- main

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const expected = loadExpected();
  const out = opts.out ?? mkdtempSync(join(tmpdir(), 'pcl-conformance-auth-'));
  const runs = opts.runs.length ? opts.runs : Object.keys(BINS);
  const suites = opts.suites.length ? opts.suites : SUITES;
  const jobs = runs.flatMap((run) => suites.map((suite) => ({ run, suite, dir: join(out, run, suite) })));
  for (const j of jobs) mkdirSync(j.dir, { recursive: true });
  process.stdout.write(`conformance-auth: ${jobs.length} suite runs, output in ${out}\n`);

  const started = Date.now();
  const queue = [...jobs];
  const worker = async () => {
    for (let j = queue.shift(); j; j = queue.shift()) {
      const t0 = Date.now();
      j.result = await runSuite(j.run, j.suite, j.dir);
      j.seconds = ((Date.now() - t0) / 1000).toFixed(1);
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));

  const rows = [];
  let bad = 0;
  for (const j of jobs) {
    const results = readResults(j.dir);
    const announced = announcedCount(j.result.stdout);
    // Non-auth scenarios of a suite are not results, so only an absent or short auth set is an error.
    const incomplete = j.result.timedOut || announced === undefined || (j.suite !== 'draft' && results.size < announced);
    if (incomplete) {
      bad++;
      rows.push({ run: j.run, scenario: `(${j.suite} suite)`, counts: '-', verdict: j.result.timedOut ? 'TIMEOUT' : 'INCOMPLETE', note: `${results.size}/${announced ?? '?'} scenarios reported` });
    }
    for (const [scenario, r] of [...results].sort(([a], [b]) => a.localeCompare(b))) {
      const passed = r.failed === 0 && r.warnings === 0;
      const entry = expected.find((e) => e.scenario === scenario && (e.run === undefined || e.run === j.run));
      let verdict;
      if (passed) verdict = entry ? 'STALE' : 'PASS';
      else verdict = entry ? 'EXPECTED' : 'FAIL';
      if (verdict === 'STALE' || verdict === 'FAIL') bad++;
      rows.push({
        run: j.run,
        scenario,
        counts: `${r.passed}/${r.failed}/${r.warnings}`,
        verdict,
        note: passed ? (entry ? 'listed as expected failure but passes: remove the entry' : '') : r.failures.join(', '),
      });
    }
  }

  const w = (k) => Math.max(k.length, ...rows.map((r) => String(r[k]).length));
  const widths = { run: w('run'), scenario: w('scenario'), counts: Math.max(w('counts'), 'ok/fail/warn'.length), verdict: w('verdict') };
  const line = (r) => `${String(r.run).padEnd(widths.run)}  ${String(r.scenario).padEnd(widths.scenario)}  ${String(r.counts).padEnd(widths.counts)}  ${String(r.verdict).padEnd(widths.verdict)}  ${r.note}`;
  process.stdout.write(`\n${line({ run: 'run', scenario: 'scenario', counts: 'ok/fail/warn', verdict: 'verdict', note: 'failing checks' })}\n`);
  for (const r of rows) process.stdout.write(`${line(r)}\n`);
  const count = (v) => rows.filter((r) => r.verdict === v).length;
  process.stdout.write(
    `\n${count('PASS')} passed, ${count('EXPECTED')} expected failures, ${count('FAIL')} unexpected failures, ${count('STALE')} stale entries` +
      ` (${((Date.now() - started) / 1000).toFixed(0)} s; suites: ${jobs.map((j) => `${j.run}/${j.suite} ${j.seconds}s`).join(', ')})\n`,
  );
  return bad === 0 ? 0 : 1;
}

main().then(
  (code) => {
    clearTimeout(watchdog);
    process.exitCode = code;
  },
  (error) => {
    process.stderr.write(`conformance-auth: ${error?.stack ?? error}\n`);
    killAllNow();
    process.exitCode = 1;
  },
);
