/**
 * `portcullis audit export` end to end (I8, I10): hostile tool names and argument keys go through
 * a real gateway over the wire into the audit log; the CLI (a child process, from source) exports
 * the tenant's log as JSONL, OCSF and CEF with one escaped record per event.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { repoPath, startGateway, type TestGateway } from '../helpers/gateway.js';
import { gatewayYaml, legacyClient, upstreamYaml } from './helpers-wire.js';
import { runCli, type CliResult } from '../helpers/cli.js';


const cli = runCli;

// I8: newline, CR, pipe, equals, backslash, U+2028, U+2029, ANSI escapes.
const EVIL_NAMES = ['evil\nCEF:0|Forged|x|1|y|z|10|', 'p|q=r\\s', '\u001b[31mred\u001b[0m', 'a\u2028b\u2029c', 'cr\rlf'];
const EVIL_KEYS = ['k\nv', 'x=y', 'p|q', '\u001b[2J', 'u\u2028v'];

describe('portcullis audit export (e2e)', () => {
  let dir: string;
  let gw: TestGateway;
  let client: Client;
  let tenant = '';
  let config = '';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pc-export-e2e-'));
    const yaml = gatewayYaml([upstreamYaml('mock', 'stdio')], `audit: { dir: ${JSON.stringify(join(dir, 'audit'))}, origin: e2e }`);
    config = join(dir, 'portcullis.yaml');
    writeFileSync(config, yaml);
    gw = await startGateway(yaml);
    await gw.waitHealthy(['mock']);
    client = await legacyClient(gw.mcp);
    const tools = await client.listTools();
    const echo = tools.tools.find((t) => t.name.endsWith('echo'))!.name;
    await client.callTool({ name: echo, arguments: Object.fromEntries([['text', 'hi'], ...EVIL_KEYS.map((k) => [k, 1])]) }).catch(() => undefined);
    for (const name of EVIL_NAMES) await client.callTool({ name, arguments: { [EVIL_KEYS[0]!]: 1 } }).catch(() => undefined);
    await client.close();
    await gw.close(); // final checkpoint
    const logs = readdirSync(join(dir, 'audit', 'logs')).filter((n) => n.startsWith('t-'));
    assert.equal(logs.length, 1, `one tenant log: ${logs.join(',')}`);
    tenant = logs[0]!.slice(2);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('JSONL is the stored log byte for byte plus a trailer', async () => {
    const r = await cli(['audit', 'export', '--config', config, '--tenant', tenant, '--format', 'jsonl']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.equal(lines.pop(), '');
    const logDir = join(dir, 'audit', 'logs', `t-${tenant}`);
    const stored = readdirSync(logDir)
      .filter((n) => n.startsWith('seg-'))
      .sort()
      .flatMap((n) => readFileSync(join(logDir, n), 'utf8').split('\n').filter(Boolean));
    assert.deepEqual(lines.slice(0, -1), stored);
    const t = (JSON.parse(lines.at(-1)!) as { portcullis_export: { log: string; first_seq: number; last_seq: number; count: number } }).portcullis_export;
    assert.equal(t.log, `e2e/${tenant}`);
    assert.equal(t.first_seq, 0);
    assert.equal(t.count, stored.length);
    for (const name of EVIL_NAMES) {
      const decisions = stored.filter((l) => l.includes('"tool.call.decision"') && (JSON.parse(l) as { target?: { tool?: string } }).target?.tool === name);
      assert.equal(decisions.length, 1, `one decision record for ${JSON.stringify(name)}`);
    }
  });

  it('CEF: one line per record, no control characters, the forged header never starts a line', async () => {
    const r = await cli(['audit', 'export', '--config', config, '--tenant', tenant, '--format', 'cef']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.equal(lines.pop(), '');
    const j = await cli(['audit', 'export', '--config', config, '--tenant', tenant]);
    assert.equal(lines.length, j.stdout.split('\n').length - 1);
    for (const l of lines) {
      assert.match(l, /^CEF:0\|Portcullis\|Portcullis\|[^|]+\|[a-z._]+\|[^|]*\|\d{1,2}\|/);
      assert.ok(!/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(l), JSON.stringify(l)); // eslint-disable-line no-control-regex
    }
    assert.ok(lines.some((l) => l.includes('cs2=evil\\nCEF:0|Forged|x|1|y|z|10|')));
    assert.ok(lines.some((l) => l.includes('cs2=p|q\\=r\\\\s')));
    assert.ok(lines.some((l) => l.includes('k\\nv') && l.includes('x\\=y')));
  });

  it('OCSF: one event per line, U+2028 escaped, tool calls are API Activity with the tool as resource', async () => {
    const r = await cli(['audit', 'export', '--config', config, '--tenant', tenant, '--format', 'ocsf', '--from', '0']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n').filter(Boolean);
    assert.ok(lines.every((l) => !/[\u2028\u2029]/.test(l)));
    const events = lines.slice(0, -1).map((l) => JSON.parse(l) as { class_uid: number; type_uid: number; api?: { operation: string }; resources?: { name: string }[]; metadata: { log_name: string } });
    const calls = events.filter((e) => e.class_uid === 6003 && e.api?.operation === 'tools/call');
    for (const name of EVIL_NAMES) assert.ok(calls.some((e) => e.resources?.[0]?.name === name), JSON.stringify(name));
    assert.ok(events.every((e) => e.metadata.log_name === `e2e/${tenant}`));
  });

  it('refuses a tenant id with path characters (exit 2) and reads only that tenant', async () => {
    for (const bad of ['../system', 'a/b', '..']) {
      const r = await cli(['audit', 'export', '--log-dir', join(dir, 'audit'), '--tenant', bad]);
      assert.equal(r.code, 2, bad);
      assert.match(r.stderr, /invalid tenant id/);
      assert.equal(r.stdout, '');
    }
  });

  it('a tenant or audit directory without a log exits 2 instead of exporting nothing', async () => {
    for (const [logDir, t] of [[join(dir, 'audit'), 'nobody'], [join(dir, 'audit'), `${tenant}x`], [join(dir, 'nonexistent'), tenant]] as const) {
      const r = await cli(['audit', 'export', '--log-dir', logDir, '--tenant', t]);
      assert.equal(r.code, 2, `${logDir} ${t}: ${r.stdout}`);
      assert.equal(r.stderr, `error: no audit log for tenant ${t} in ${logDir}\n`);
      assert.equal(r.stdout, '');
    }
  });

  it('--out: written 0600; a directory or a missing parent is an error line and exit 2, never a stack trace', async () => {
    const out = join(dir, 'export.jsonl');
    const ok = await cli(['audit', 'export', '--config', config, '--tenant', tenant, '--out', out]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(statSync(out).mode & 0o777, 0o600);
    assert.match(readFileSync(out, 'utf8'), /"portcullis_export"/);
    for (const bad of [dir, join(dir, 'missing', 'parent', 'x.jsonl')]) {
      const r = await cli(['audit', 'export', '--config', config, '--tenant', tenant, '--out', bad]);
      assert.equal(r.code, 2, `${bad}: ${r.stderr}`);
      assert.match(r.stderr, /^error: --out .*(EISDIR|ENOENT)/);
      assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, r.stderr);
      assert.doesNotMatch(r.stderr, /\n\s+at |node:events|Unhandled/);
    }
    assert.equal(existsSync(join(dir, 'missing')), false);
  });

  it('usage errors exit 2 (missing --tenant, an unknown format, an unknown flag), like verify and proof', async () => {
    for (const args of [
      ['--log-dir', join(dir, 'audit')],
      ['--log-dir', join(dir, 'audit'), '--tenant', tenant, '--format', 'xml'],
      ['--log-dir', join(dir, 'audit'), '--tenant', tenant, '--bogus'],
    ]) {
      const r = await cli(['audit', 'export', ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^error: /);
      assert.equal(r.stdout, '');
    }
  });
});

/** The CLI from source with a short cap: a hang is killed and reported (code null), never waited out. */
function cliWithin(ms: number, args: string[]): Promise<CliResult & { hung: boolean }> {
  const child = spawn(process.execPath, ['--import', 'tsx', repoPath('src/cli/index.ts'), ...args], { cwd: repoPath(), env: { ...process.env, PORTCULLIS_PORT: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let hung = false;
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => {
    hung = true;
    child.kill('SIGKILL');
  }, ms);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, hung });
    });
  });
}

describe('portcullis audit export: a segment that is not a regular file', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pc-export-seg-e2e-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a FIFO or a directory named like a segment exits 2 with one error line naming it, no hang, no stack trace', async () => {
    for (const kind of ['fifo', 'dir'] as const) {
      const logDir = join(dir, 'logs', `t-${kind}`);
      mkdirSync(logDir, { recursive: true });
      const seg = join(logDir, `seg-${'0'.padStart(20, '0')}.jsonl`);
      if (kind === 'fifo') assert.equal(spawnSync('mkfifo', [seg]).status, 0, 'mkfifo');
      else mkdirSync(seg);
      const r = await cliWithin(20_000, ['audit', 'export', '--log-dir', dir, '--tenant', kind]);
      assert.equal(r.hung, false, `${kind}: the export hung`);
      assert.equal(r.code, 2, `${kind}: ${r.stderr}`);
      assert.equal(r.stderr, `error: cannot read segment ${seg}: not a regular file (${kind === 'fifo' ? 'a FIFO' : 'a directory'})\n`);
      assert.equal(r.stdout, '');
    }
  });
});
