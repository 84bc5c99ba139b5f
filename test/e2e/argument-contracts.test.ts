/**
 * Argument contracts at the wire (security-checklist D2): the published mcp-server-git
 * argument-injection and path-traversal payloads (CVE-2025-68144, CVE-2025-68145,
 * CVE-2026-27735) replayed through a real gateway against a git-like stdio upstream that records
 * every call it receives. Each payload must be refused before the upstream (the record shows none
 * of them) while benign calls pass; schema violations are refused even without a policy.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { repoPath, startGateway, tsNode, type TestGateway } from '../helpers/gateway.js';
import { firstText, gatewayYaml, legacyClient, modernClient } from './helpers-wire.js';

const ROOT = '/srv/repos';
const REPO = `${ROOT}/project`;

function gitUpstream(record: string): string {
  const args = JSON.stringify([...tsNode('test/fixtures/stdio/git-like-server.ts'), '--record', record]);
  return `  - { name: git, kind: stdio, command: ${JSON.stringify(process.execPath)}, args: ${args}, cwd: ${JSON.stringify(repoPath())} }`;
}

const POLICY = `
policy:
  rules:
    - id: git-guarded
      effect: allow
      tools: ["git__*"]
      reason: git tools with argument guards (D2)
      guards:
        noLeadingDash: true
        noDotDot: true
        roots: [${ROOT}]
        pathArgs: ["repo_path"]
        noControlChars: true
        maxStringLength: 1024
        maxArrayLength: 16
`;

interface Refusal {
  code: number;
  data: Record<string, unknown>;
}

/** Calls a tool and returns the JSON-RPC error, or fails when the call succeeds. */
async function refused(c: { callTool(p: { name: string; arguments?: Record<string, unknown> }): Promise<unknown> }, name: string, args?: Record<string, unknown>): Promise<Refusal> {
  try {
    await c.callTool(args === undefined ? { name } : { name, arguments: args });
  } catch (e) {
    const err = e as { code?: number; data?: Record<string, unknown> };
    assert.equal(typeof err.code, 'number', String(e));
    return { code: err.code!, data: err.data ?? {} };
  }
  return assert.fail(`${name} ${JSON.stringify(args).slice(0, 80)} was not refused`);
}

function recorded(file: string): { name: string; arguments: Record<string, unknown> }[] {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as { name: string; arguments: Record<string, unknown> });
}

/** The D2 payloads: tool, arguments, and the guard expected to refuse them. */
const PAYLOADS: [string, Record<string, unknown>, string, string][] = [
  ['git__git_log', { repo_path: REPO, ref: '--output=/tmp/pwned' }, 'noLeadingDash', '/ref'], // CVE-2025-68144
  ['git__git_diff', { repo_path: REPO, target: '--output=/home/user/.bashrc' }, 'noLeadingDash', '/target'],
  ['git__git_log', { repo_path: REPO, ref: '--help' }, 'noLeadingDash', '/ref'],
  ['git__git_diff', { repo_path: REPO, target: '-p' }, 'noLeadingDash', '/target'],
  ['git__git_checkout', { repo_path: REPO, branch_name: '--orphan=evil' }, 'noLeadingDash', '/branch_name'],
  ['git__git_checkout', { repo_path: REPO, branch_name: '-f' }, 'noLeadingDash', '/branch_name'],
  ['git__git_add', { repo_path: REPO, files: ['-f', 'secret.env'] }, 'noLeadingDash', '/files/0'],
  ['git__git_add', { repo_path: REPO, files: ['../../../.kube/config'] }, 'noDotDot', '/files/0'], // CVE-2026-27735
  ['git__git_add', { repo_path: REPO, files: ['ok.txt', '..\\..\\..\\.ssh\\id_rsa'] }, 'noDotDot', '/files/1'],
  ['git__git_status', { repo_path: '/etc' }, 'roots', '/repo_path'], // CVE-2025-68145
  ['git__git_status', { repo_path: `${ROOT}/../../home/user` }, 'noDotDot', '/repo_path'],
  ['git__git_status', { repo_path: 'project' }, 'roots', '/repo_path'],
  ['git__git_log', { repo_path: REPO, ref: 'main\u0000--output=/tmp/x' }, 'noControlChars', '/ref'],
  ['git__git_log', { repo_path: REPO, ref: 'main\u001b[2J' }, 'noControlChars', '/ref'],
  ['git__git_log', { repo_path: REPO, ref: 'a'.repeat(5000) }, 'maxStringLength', '/ref'],
  ['git__git_add', { repo_path: REPO, files: Array.from({ length: 17 }, (_, i) => `f${i}.txt`) }, 'maxArrayLength', '/files'],
];

const BENIGN: [string, Record<string, unknown>][] = [
  ['git__git_status', { repo_path: REPO }],
  ['git__git_log', { repo_path: REPO, max_count: 5, ref: 'main' }],
  ['git__git_diff', { repo_path: REPO, target: 'HEAD~1..HEAD' }],
  ['git__git_checkout', { repo_path: REPO, branch_name: 'feature/x' }],
  ['git__git_add', { repo_path: `${REPO}/`, files: ['src/a.ts', 'README.md'] }],
];

describe('argument contracts with policy guards (D2)', () => {
  let gw: TestGateway;
  let dir: string;
  let record: string;
  const clients: { close(): Promise<void> }[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'portcullis-args-'));
    record = join(dir, 'calls.jsonl');
    writeFileSync(record, '');
    gw = await startGateway(gatewayYaml([gitUpstream(record)], POLICY));
    await gw.waitHealthy(['git']);
  });
  after(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    await gw?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const era of ['legacy', 'modern'] as const) {
    it(`${era} client: every published payload is refused with ERR_ARGUMENT_GUARD before the upstream; benign calls pass`, async () => {
      const c = era === 'legacy' ? await legacyClient(gw.mcp) : await modernClient(gw.mcp);
      clients.push(c);
      const before = recorded(record).length;
      for (const [name, args, guard, argument] of PAYLOADS) {
        const r = await refused(c as V1Client, name, args);
        assert.equal(r.code, -31215, `${name} ${JSON.stringify(args).slice(0, 60)}`);
        assert.deepEqual(r.data, { portcullis: 'ERR_ARGUMENT_GUARD', guard, argument });
      }
      assert.equal(recorded(record).length, before, 'no payload reached the upstream');
      for (const [name, args] of BENIGN) {
        const res = await c.callTool({ name, arguments: args });
        assert.equal(firstText(res), `${name.slice('git__'.length)} ok`);
      }
      const seen = recorded(record).slice(before);
      assert.deepEqual(
        seen.map((s) => [s.name, s.arguments]),
        BENIGN.map(([n, a]) => [n.slice('git__'.length), a]),
        'the upstream saw exactly the benign calls',
      );
    });
  }

  it('schema violations are refused with -32602 naming the argument, before the upstream', async () => {
    const c = await legacyClient(gw.mcp);
    clients.push(c);
    const before = recorded(record).length;
    const r1 = await refused(c, 'git__git_log', { repo_path: REPO, max_count: 'ten' });
    assert.equal(r1.code, -32602);
    assert.equal(r1.data.portcullis, 'ERR_ARGUMENT_INVALID');
    assert.deepEqual((r1.data.errors as { instancePath: string; keyword: string }[]).map((e) => [e.instancePath, e.keyword]), [['/max_count', 'type']]);
    const r2 = await refused(c, 'git__git_add', { repo_path: REPO });
    assert.equal(r2.code, -32602);
    assert.equal((r2.data.errors as { keyword: string }[])[0]!.keyword, 'required');
    assert.equal(recorded(record).length, before);
  });
});

describe('argument contracts without a policy section', () => {
  let gw: TestGateway;
  let dir: string;
  let record: string;
  let c: V1Client | undefined;

  const logLines: Record<string, unknown>[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'portcullis-args-'));
    record = join(dir, 'calls.jsonl');
    writeFileSync(record, '');
    const logTo = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const line of chunk.toString().split('\n')) if (line.trim()) logLines.push(JSON.parse(line) as Record<string, unknown>);
        cb();
      },
    });
    gw = await startGateway(gatewayYaml([gitUpstream(record)]).replace('log: { level: silent }', 'log: { level: warn }'), process.env, { logTo, logLevel: 'warn' });
    await gw.waitHealthy(['git']);
  });
  after(async () => {
    await c?.close().catch(() => undefined);
    await gw?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the input schema is still enforced; missing arguments validate as {}', async () => {
    c = await legacyClient(gw.mcp);
    const r = await refused(c, 'git__git_status');
    assert.equal(r.code, -32602);
    assert.equal((r.data.errors as { keyword: string }[])[0]!.keyword, 'required');
    assert.equal(recorded(record).length, 0);
    // Without guards, a leading dash is only a string: the schema allows it (guards are opt-in).
    assert.equal(firstText(await c.callTool({ name: 'git__git_log', arguments: { repo_path: REPO, ref: '--all' } })), 'git_log ok');
    assert.equal(recorded(record).length, 1);
  });

  it('a tool whose schema the gateway refuses fails closed (ERR_UPSTREAM_PROTOCOL), logged once', async () => {
    c ??= await legacyClient(gw.mcp);
    const before = recorded(record).length;
    for (let i = 0; i < 3; i++) {
      const r = await refused(c, 'git__git_blame', { repo_path: REPO, rev: 'aa' });
      assert.equal(r.code, -31102);
      assert.equal(r.data.portcullis, 'ERR_UPSTREAM_PROTOCOL');
      assert.equal(r.data.tool, 'git__git_blame');
    }
    assert.equal(recorded(record).length, before, 'nothing reached the upstream');
    const logged = logLines.filter((l) => l.msg === 'arguments.schema_refused');
    assert.equal(logged.length, 1);
    assert.equal(logged[0]!.tool, 'git_blame');
  });
});
