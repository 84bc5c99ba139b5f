#!/usr/bin/env node
/**
 * Compares two conformance-suite output directories (`-o DIR`) check by check.
 *
 *   node test/conformance/compare.mjs <direct-dir> <gateway-dir>
 *
 * A check that passes in the direct run must pass as often in the gateway run;
 * every shortfall is printed as `LOST <scenario>/<check id>`, followed by one
 * summary line. Exit code: 0 nothing lost, 1 something lost, 2 unusable input.
 *
 * Also imported by scripts/conformance.mjs for the same comparison.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

// The suite names each result directory `server-<scenario>-<ISO timestamp with ':' and '.' as '-'>`.
const RESULT_DIR = /^server-(.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$/;

/**
 * Reads every `checks.json` below `dir`.
 * @param {string} dir
 * @returns {Array<{scenario: string, id: string, status: string, errorMessage?: string}>}
 */
export function readChecks(dir) {
  const checks = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const file = join(dir, entry.name, 'checks.json');
    if (!existsSync(file)) continue;
    const match = RESULT_DIR.exec(entry.name);
    const scenario = match ? match[1] : entry.name;
    const parsed = JSON.parse(readFileSync(file, 'utf8'));
    if (!Array.isArray(parsed)) continue;
    for (const check of parsed) {
      if (check && typeof check.id === 'string' && typeof check.status === 'string') {
        checks.push({ scenario, id: check.id, status: check.status, errorMessage: check.errorMessage });
      }
    }
  }
  return checks;
}

/**
 * Counts checks by `<scenario>/<check id>` for one status.
 * @param {ReturnType<typeof readChecks>} checks
 * @param {string} status
 * @returns {Map<string, number>}
 */
export function countByKey(checks, status) {
  const counts = new Map();
  for (const check of checks) {
    if (check.status !== status) continue;
    const key = `${check.scenario}/${check.id}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/**
 * Totals as the suite counts them (SUCCESS passed, FAILURE failed, WARNING warned).
 * @param {ReturnType<typeof readChecks>} checks
 */
export function totals(checks) {
  let passed = 0;
  let failed = 0;
  let warnings = 0;
  for (const check of checks) {
    if (check.status === 'SUCCESS') passed++;
    else if (check.status === 'FAILURE') failed++;
    else if (check.status === 'WARNING') warnings++;
  }
  return { passed, failed, warnings };
}

/**
 * The checks passing directly that pass fewer times through the gateway.
 * @param {string} directDir
 * @param {string} gatewayDir
 * @returns {{ directPassing: number, lost: string[] }}
 */
export function compareRuns(directDir, gatewayDir) {
  const direct = countByKey(readChecks(directDir), 'SUCCESS');
  const gateway = countByKey(readChecks(gatewayDir), 'SUCCESS');
  const lost = [];
  for (const [key, count] of direct) {
    if ((gateway.get(key) ?? 0) < count) lost.push(key);
  }
  lost.sort();
  return { directPassing: direct.size, lost };
}

function main(argv) {
  const [directDir, gatewayDir] = argv;
  if (!directDir || !gatewayDir) {
    process.stderr.write('usage: compare.mjs <direct-dir> <gateway-dir>\n');
    return 2;
  }
  for (const dir of [directDir, gatewayDir]) {
    if (!existsSync(dir)) {
      process.stderr.write(`no such directory: ${dir}\n`);
      return 2;
    }
  }
  const { directPassing, lost } = compareRuns(directDir, gatewayDir);
  if (directPassing === 0) {
    process.stderr.write('no passing checks in the direct run: nothing to compare against\n');
    return 2;
  }
  for (const key of lost) process.stdout.write(`LOST ${key}\n`);
  process.stdout.write(`${directPassing} checks pass directly; ${lost.length} lost through the gateway\n`);
  return lost.length > 0 ? 1 : 0;
}

if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  process.exitCode = main(process.argv.slice(2));
}
