#!/usr/bin/env node
/**
 * `npm run conformance`: the official MCP conformance suite against our
 * fixture directly, and through the gateway with the fixture as its only
 * upstream (once over streamable HTTP, once over stdio).
 *
 * Runs: 0.1.16 `--suite all`, alpha `--requirements 2025-11-25`, alpha
 * `--requirements 2026-07-28`. For each, a check that passes directly must
 * pass through the gateway (test/conformance/compare.mjs); direct failures
 * must be listed in test/conformance/expected-failures.yaml.
 *
 * Options:
 *   --direct-only        skip the gateway runs
 *   --run <key>          only this run (repeatable): 0.1.16, alpha-2025-11-25, alpha-2026-07-28
 *   --out <dir>          write suite output below <dir> (default: a fresh temp dir)
 *   --gateway dist|tsx   start the built gateway (bin/portcullis.js) or the
 *                        sources through tsx (default: tsx)
 *   --stdio-sharing <s>  `sharing` of the stdio upstream (default: the gateway default)
 *
 * Exit: 0 all good; 1 a check lost through the gateway, an unexpected direct
 * failure, or a run that could not complete; 2 usage error.
 *
 * Every child runs in its own process group and is killed on every exit path;
 * each suite run and each start-up has a hard time bound.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { compareRuns, readChecks, totals } from '../test/conformance/compare.mjs';
import { children, killAllNow, killGroup, reapChildrenOnExit } from './lib/children.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SHIM = join(ROOT, 'test/conformance/globsync-shim.mjs');
const FIXTURE_HTTP = join(ROOT, 'test/fixtures/conformance/http.ts');
const FIXTURE_STDIO = join(ROOT, 'test/fixtures/conformance/stdio.ts');
const EXPECTED_FAILURES = join(ROOT, 'test/conformance/expected-failures.yaml');
const SUITE_016 = join(ROOT, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');
const SUITE_ALPHA = join(ROOT, 'node_modules/conformance-alpha/dist/index.js');

const STARTUP_TIMEOUT_MS = 60_000;
const SUITE_TIMEOUT_MS = 5 * 60_000;
const OVERALL_TIMEOUT_MS = 45 * 60_000;
const KILL_GRACE_MS = 2_000;

const RUNS = [
  { key: '0.1.16', bin: SUITE_016, args: ['server', '--suite', 'all'] },
  { key: 'alpha-2025-11-25', bin: SUITE_ALPHA, args: ['server', '--requirements', '2025-11-25'] },
  { key: 'alpha-2026-07-28', bin: SUITE_ALPHA, args: ['server', '--requirements', '2026-07-28'] },
];
const TARGETS = ['direct', 'gateway-http', 'gateway-stdio'];

// ---------------------------------------------------------------- processes

reapChildrenOnExit();
process.on('uncaughtException', (error) => {
  process.stderr.write(`fatal: ${error.stack ?? error}\n`);
  killAllNow();
  process.exit(1);
});
const overallWatchdog = setTimeout(() => {
  process.stderr.write(`\nconformance: over the ${OVERALL_TIMEOUT_MS / 60_000} min bound, giving up\n`);
  killAllNow();
  process.exit(1);
}, OVERALL_TIMEOUT_MS);
overallWatchdog.unref();

/**
 * Spawns `process.execPath argv` in a new process group (no shell).
 * @returns {{ child: import('node:child_process').ChildProcess, exited: Promise<number|null>, stop: () => Promise<void> }}
 */
function startNode(argv, { env, logFile, cwd = ROOT } = {}) {
  const child = spawn(process.execPath, argv, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  children.set(child.pid, child);
  if (logFile) {
    const log = createWriteStream(logFile);
    child.stdout.pipe(log, { end: false });
    child.stderr.pipe(log, { end: false });
    child.once('close', () => log.end());
  }
  const exited = new Promise((resolveExit) => {
    child.once('close', (code, signal) => {
      children.delete(child.pid);
      resolveExit(code ?? (signal ? 128 : null));
    });
    child.once('error', () => {
      children.delete(child.pid);
      resolveExit(null);
    });
  });
  const stop = async () => {
    if (!children.has(child.pid)) return;
    killGroup(child.pid, 'SIGTERM');
    const timer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), KILL_GRACE_MS);
    await exited;
    clearTimeout(timer);
    // The group may hold grandchildren (the gateway's stdio upstream).
    killGroup(child.pid, 'SIGKILL');
  };
  return { child, exited, stop };
}

/** Resolves with the first stdout line `pick` maps to a value; rejects on exit or timeout. */
function waitForLine(proc, pick, what) {
  return new Promise((resolveLine, rejectLine) => {
    let buffer = '';
    const timer = setTimeout(() => finish(new Error(`${what}: not ready within ${STARTUP_TIMEOUT_MS / 1000}s`)), STARTUP_TIMEOUT_MS);
    const onData = (chunk) => {
      buffer += chunk.toString('utf8');
      let newline;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline).trim();
        buffer = buffer.slice(newline + 1);
        const value = pick(line);
        if (value !== undefined) return finish(undefined, value);
      }
    };
    const onClose = (code) => finish(new Error(`${what}: exited (code ${code}) before it was ready`));
    function finish(error, value) {
      clearTimeout(timer);
      proc.child.stdout.off('data', onData);
      proc.child.off('close', onClose);
      if (error) rejectLine(error);
      else resolveLine(value);
    }
    proc.child.stdout.on('data', onData);
    proc.child.once('close', onClose);
  });
}

// ----------------------------------------------------------------- fixture

async function startFixture(logFile) {
  const proc = startNode(['--import', 'tsx', FIXTURE_HTTP, '--port', '0'], { logFile });
  try {
    const url = await waitForLine(proc, (line) => (line.startsWith('LISTENING ') ? line.slice(10).trim() : undefined), 'fixture');
    return { url, stop: proc.stop };
  } catch (error) {
    await proc.stop();
    throw error;
  }
}

// ----------------------------------------------------------------- gateway

function gatewayConfig(kind, fixtureUrl, stdioSharing) {
  const upstream =
    kind === 'http'
      ? { name: 'conf', prefix: '', kind: 'streamable-http', url: fixtureUrl }
      : {
          name: 'conf',
          prefix: '',
          kind: 'stdio',
          command: process.execPath,
          args: ['--import', 'tsx', FIXTURE_STDIO],
          // tsx must resolve from the repository, not from the config's temp dir.
          cwd: ROOT,
          ...(stdioSharing ? { sharing: stdioSharing } : {}),
        };
  return { gateway: { port: 0, storage: 'memory' }, log: { level: 'info' }, upstreams: [upstream] };
}

function parseListening(line) {
  if (!line.startsWith('{')) return undefined;
  try {
    const entry = JSON.parse(line);
    if (entry.msg === 'gateway.listening' && typeof entry.url === 'string') return entry.url;
  } catch {
    // Not a log line.
  }
  return undefined;
}

async function startGateway(configFile, logFile, mode) {
  const argv =
    mode === 'dist'
      ? [join(ROOT, 'bin/portcullis.js'), 'start', '--config', configFile]
      : ['--import', 'tsx', join(ROOT, 'src/cli/index.ts'), 'start', '--config', configFile];
  const proc = startNode(argv, { logFile, env: { PORTCULLIS_PORT: '0' } });
  try {
    const base = (await waitForLine(proc, parseListening, 'gateway')).replace(/\/+$/, '');
    // Listening is not ready: the suite's first scenarios must not race the upstream's start
    // (a tsx-run stdio fixture takes seconds on a loaded machine).
    await waitReady(`${base}/readyz`);
    return { url: `${base}/mcp`, stop: proc.stop };
  } catch (error) {
    await proc.stop();
    throw error;
  }
}

/** Polls `/readyz` until it answers 200; rejects after STARTUP_TIMEOUT_MS. */
async function waitReady(readyUrl) {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(readyUrl, { signal: AbortSignal.timeout(2_000) });
      last = `${res.status} ${await res.text()}`;
      if (res.status === 200) return;
    } catch (error) {
      last = String(error);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`gateway: not ready within ${STARTUP_TIMEOUT_MS / 1000}s (last /readyz: ${last})`);
}

// ------------------------------------------------------------------- suite

/** Runs one suite invocation into `outDir`; resolves with its summary. */
async function runSuite(run, url, outDir) {
  mkdirSync(outDir, { recursive: true });
  const started = Date.now();
  const proc = startNode(['--import', SHIM, run.bin, ...run.args, '--url', url, '-o', outDir], {
    logFile: join(outDir, 'suite.log'),
  });
  let timedOut = false;
  const watchdog = setTimeout(() => {
    timedOut = true;
    void proc.stop();
  }, SUITE_TIMEOUT_MS);
  const code = await proc.exited;
  clearTimeout(watchdog);
  const seconds = (Date.now() - started) / 1000;
  const counted = totals(readChecks(outDir));
  return { ...counted, exitCode: code, timedOut, seconds };
}

// --------------------------------------------------------- expected failures

function loadExpectedFailures() {
  if (!existsSync(EXPECTED_FAILURES)) return [];
  const parsed = parseYaml(readFileSync(EXPECTED_FAILURES, 'utf8')) ?? [];
  if (!Array.isArray(parsed)) throw new Error(`${EXPECTED_FAILURES}: expected a list of entries`);
  for (const entry of parsed) {
    if (!entry?.run || !entry?.scenario || !entry?.reason) {
      throw new Error(`${EXPECTED_FAILURES}: every entry needs run, scenario and reason: ${JSON.stringify(entry)}`);
    }
  }
  return parsed;
}

function isExpected(expected, runKey, scenario, checkId) {
  return expected.some((entry) => {
    if (entry.run !== runKey) return false;
    const scenarioOk = entry.scenario.endsWith('*')
      ? scenario.startsWith(entry.scenario.slice(0, -1))
      : scenario === entry.scenario;
    return scenarioOk && (entry.check === undefined || entry.check === checkId);
  });
}

// -------------------------------------------------------------------- main

function parseArgs(argv) {
  const options = { directOnly: false, runs: [], out: undefined, gateway: 'tsx', stdioSharing: undefined };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${arg} needs a value`);
      return next;
    };
    if (arg === '--direct-only') options.directOnly = true;
    else if (arg === '--run') options.runs.push(value());
    else if (arg === '--out') options.out = resolve(value());
    else if (arg === '--gateway') options.gateway = value();
    else if (arg === '--stdio-sharing') options.stdioSharing = value();
    else throw new Error(`unknown option: ${arg}`);
  }
  for (const key of options.runs) {
    if (!RUNS.some((run) => run.key === key)) throw new Error(`unknown run: ${key}`);
  }
  if (!['tsx', 'dist'].includes(options.gateway)) throw new Error('--gateway must be tsx or dist');
  return options;
}

function cell(result) {
  if (!result) return '-';
  if (result.error) return 'not run';
  const flag = result.timedOut ? ' TIMEOUT' : '';
  return `${result.passed}/${result.failed} ${result.seconds.toFixed(1)}s${flag}`;
}

function printTable(rows, targets) {
  const header = ['suite', ...targets.map((t) => `${t} (pass/fail time)`)];
  const lines = [header, ...rows.map((row) => [row.key, ...targets.map((t) => cell(row.results[t]))])];
  const widths = header.map((_, i) => Math.max(...lines.map((line) => line[i].length)));
  const format = (line) => line.map((text, i) => text.padEnd(widths[i])).join('  ');
  process.stdout.write(`\n${format(lines[0])}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n`);
  for (const line of lines.slice(1)) process.stdout.write(`${format(line)}\n`);
}

async function main() {
  let options;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`conformance: ${error.message}\n`);
    return 2;
  }
  const all = loadExpectedFailures();
  const expected = all.filter((e) => e.target !== 'gateway');
  const gatewayExpected = all.filter((e) => e.target === 'gateway');
  const outRoot = options.out ?? mkdtempSync(join(tmpdir(), 'portcullis-conformance-'));
  mkdirSync(outRoot, { recursive: true });
  process.stdout.write(`conformance output: ${outRoot}\n`);

  const runs = options.runs.length ? RUNS.filter((run) => options.runs.includes(run.key)) : RUNS;
  const targets = options.directOnly ? ['direct'] : TARGETS;
  const rows = [];
  const problems = [];

  for (const run of runs) {
    const runDir = join(outRoot, run.key);
    const row = { key: run.key, results: {} };
    rows.push(row);
    mkdirSync(runDir, { recursive: true });
    process.stdout.write(`\n== ${run.key}\n`);

    let fixture;
    try {
      fixture = await startFixture(join(runDir, 'fixture.log'));
    } catch (error) {
      problems.push(`${run.key}: fixture did not start: ${error.message}`);
      row.results.direct = { error: error.message };
      continue;
    }
    try {
      for (const target of targets) {
        const targetDir = join(runDir, target);
        mkdirSync(targetDir, { recursive: true });
        let gateway;
        try {
          let url = fixture.url;
          if (target !== 'direct') {
            const configFile = join(targetDir, 'portcullis.yaml');
            const kind = target === 'gateway-http' ? 'http' : 'stdio';
            writeFileSync(configFile, stringifyYaml(gatewayConfig(kind, fixture.url, options.stdioSharing)));
            gateway = await startGateway(configFile, join(targetDir, 'gateway.log'), options.gateway);
            url = gateway.url;
          }
          const result = await runSuite(run, url, join(targetDir, 'results'));
          row.results[target] = result;
          process.stdout.write(`  ${target}: ${cell(result)} (suite exit ${result.exitCode})\n`);
          if (result.timedOut) problems.push(`${run.key}/${target}: suite run timed out`);
        } catch (error) {
          row.results[target] = { error: error.message };
          problems.push(`${run.key}/${target}: could not run: ${error.message}`);
          process.stdout.write(`  ${target}: not run (${error.message})\n`);
        } finally {
          await gateway?.stop();
        }
      }
    } finally {
      await fixture.stop();
    }

    // Direct failures must be known fixture gaps.
    const directDir = join(runDir, 'direct', 'results');
    if (row.results.direct && !row.results.direct.error) {
      for (const check of readChecks(directDir)) {
        if (check.status !== 'FAILURE' || isExpected(expected, run.key, check.scenario, check.id)) continue;
        problems.push(`${run.key}: unexpected direct failure ${check.scenario}/${check.id}: ${check.errorMessage ?? ''}`);
      }
    }
    // Every check passing directly must pass through the gateway.
    for (const target of targets.filter((t) => t !== 'direct')) {
      const result = row.results[target];
      if (!result || result.error || row.results.direct?.error) continue;
      const { directPassing, lost: allLost } = compareRuns(directDir, join(runDir, target, 'results'));
      // A check lost by design is listed with `target: gateway` and its reason; it is reported, not counted.
      const lost = allLost.filter((key) => {
        const [scenario, check] = key.split('/');
        if (!isExpected(gatewayExpected, run.key, scenario, check)) return true;
        process.stdout.write(`EXPECTED ${run.key}/${target}: ${key}\n`);
        return false;
      });
      result.lost = lost.length;
      for (const key of lost) process.stdout.write(`LOST ${run.key}/${target}: ${key}\n`);
      process.stdout.write(`  ${target}: ${directPassing} checks pass directly; ${lost.length} lost\n`);
      if (lost.length > 0) problems.push(`${run.key}/${target}: ${lost.length} check(s) lost through the gateway`);
    }
  }

  printTable(rows, targets);
  if (problems.length > 0) {
    process.stdout.write(`\n${problems.length} problem(s):\n${problems.map((p) => `  - ${p}`).join('\n')}\n`);
    return 1;
  }
  process.stdout.write('\nconformance: OK\n');
  return 0;
}

main().then(
  (code) => {
    killAllNow();
    process.exit(code);
  },
  (error) => {
    process.stderr.write(`conformance: ${error.stack ?? error}\n`);
    killAllNow();
    process.exit(1);
  },
);
