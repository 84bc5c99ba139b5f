/** Argument guards a policy rule switches on (security-checklist D2), checked directly. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkGuards, compileGuards, findGuardViolation, MAX_GUARD_DEPTH } from '../../../src/arguments/compile.js';
import { ArgumentGuards } from '../../../src/arguments/config.js';
import { GatewayError } from '../../../src/pipeline/errors.js';

const guards = (cfg: Record<string, unknown>) => [compileGuards(ArgumentGuards.parse(cfg))];
const ALL = guards({ noLeadingDash: true, noDotDot: true, noControlChars: true, roots: ['/srv/repos/'], pathArgs: ['repo_path', '*dir*'], maxStringLength: 256, maxArrayLength: 8 });

test('D2: the published mcp-server-git payloads are refused, naming guard and argument', () => {
  const cases: [Record<string, unknown>, string, string][] = [
    [{ repo_path: '/srv/repos/a', ref: '--output=/tmp/x' }, 'noLeadingDash', '/ref'], // CVE-2025-68144
    [{ repo_path: '/srv/repos/a', ref: '--help' }, 'noLeadingDash', '/ref'],
    [{ repo_path: '/srv/repos/a', ref: '-p' }, 'noLeadingDash', '/ref'],
    [{ repo_path: '/srv/repos/a', branch: '--orphan=evil' }, 'noLeadingDash', '/branch'],
    [{ repo_path: '/srv/repos/a', files: ['ok.txt', '-f'] }, 'noLeadingDash', '/files/1'],
    [{ repo_path: '/srv/repos/a', ref: '  --output=/tmp/x' }, 'noLeadingDash', '/ref'],
    [{ repo_path: '/srv/repos/a', files: ['../../../.kube/config'] }, 'noDotDot', '/files/0'], // CVE-2026-27735
    [{ repo_path: '/srv/repos/a', files: ['a\\..\\..\\b'] }, 'noDotDot', '/files/0'],
    [{ repo_path: '/srv/repos/a', files: ['%2e%2e/%2e%2e/etc/passwd'] }, 'noDotDot', '/files/0'],
    [{ repo_path: '/srv/repos/a', files: ['%252e%252e/x'] }, 'noDotDot', '/files/0'],
    [{ repo_path: '/srv/repos/a', files: ['\u2025/x'] }, 'noDotDot', '/files/0'], // NFKC folds to ../x
    [{ repo_path: '/etc' }, 'roots', '/repo_path'], // CVE-2025-68145
    [{ repo_path: '/srv/repos/../../etc' }, 'noDotDot', '/repo_path'],
    [{ repo_path: '/srv/reposX' }, 'roots', '/repo_path'],
    [{ repo_path: 'relative/repo' }, 'roots', '/repo_path'],
    [{ repo_path: '' }, 'roots', '/repo_path'],
    [{ repo_path: '/srv/repos/a', message: 'a\u0000b' }, 'noControlChars', '/message'],
    [{ repo_path: '/srv/repos/a', message: 'a\u001bb' }, 'noControlChars', '/message'],
    [{ repo_path: '/srv/repos/a', message: 'a\u0085b' }, 'noControlChars', '/message'],
    [{ repo_path: '/srv/repos/a', ['k\u0000']: 1 }, 'noControlChars', '/k\u0000'],
    [{ repo_path: '/srv/repos/a', message: 'x'.repeat(257) }, 'maxStringLength', '/message'],
    [{ repo_path: '/srv/repos/a', files: Array.from({ length: 9 }, () => 'f') }, 'maxArrayLength', '/files'],
    [{ repo_path: '/srv/repos/a', opts: { nested: [{ deeper: '--upload-pack=evil' }] } }, 'noLeadingDash', '/opts/nested/0/deeper'],
    [{ repo_path: '/srv/repos/a', work_dir: '/tmp' }, 'roots', '/work_dir'],
    [{ repo_path: ['/srv/repos/a', '/root'] }, 'roots', '/repo_path/1'],
    [{ repo_path: '/srv/repos/a', 'a/b~c': '-x' }, 'noLeadingDash', '/a~1b~0c'],
  ];
  for (const [args, guard, argument] of cases) {
    assert.deepEqual(findGuardViolation(ALL, args), { guard, argument }, JSON.stringify(args).slice(0, 100));
  }
});

test('D2: benign calls pass every guard', () => {
  const ok: Record<string, unknown>[] = [
    { repo_path: '/srv/repos/a', ref: 'main', max_count: 5 },
    { repo_path: '/srv/repos', ref: 'HEAD~1..HEAD' },
    { repo_path: '/srv/repos/a/', files: ['src/a.ts', 'README.md', 'a-b.txt'], message: 'fix: tabs\tand\nnewlines ok... wait' },
    { repo_path: '/srv/repos/a//b/./c', n: -5, flag: true, nothing: null },
    { repo_path: '/srv/repos/a', message: 'x'.repeat(256), files: Array.from({ length: 8 }, () => 'f') },
    { repo_path: '/srv/repos/a', message: 'Grüße ．not a path' },
  ];
  for (const args of ok) assert.equal(findGuardViolation(ALL, args), undefined, JSON.stringify(args).slice(0, 100));
});

test('each guard is off unless switched on; roots apply only to pathArgs', () => {
  const none = guards({});
  assert.equal(none[0]!.active, false);
  assert.equal(findGuardViolation(none, { a: '--x', b: '../y', c: '\u0000', repo_path: '/etc' }), undefined);
  const rootsOnly = guards({ roots: ['/srv'], pathArgs: ['repo_path'] });
  assert.equal(findGuardViolation(rootsOnly, { repo_path: '/srv/x', other: '/etc/passwd' }), undefined);
  // Default pathArgs: *path*, *file*, *dir*
  const defaults = guards({ roots: ['/srv'] });
  assert.deepEqual(findGuardViolation(defaults, { file_path: '/etc/passwd' }), { guard: 'roots', argument: '/file_path' });
  assert.equal(findGuardViolation(defaults, { query: '/etc/passwd' }), undefined);
  // roots only looks at top-level names: a nested `path` key is not a path argument
  assert.equal(findGuardViolation(defaults, { options: { path: '/etc' } }), undefined);
  assert.equal(findGuardViolation(guards({ roots: ['/'] }), { path: '/anything/at/all' }), undefined);
});

test('every matching rule\'s guards are checked', () => {
  const two = [...guards({ noLeadingDash: true }), ...guards({ maxStringLength: 3 })];
  assert.equal(findGuardViolation(two, { a: 'abc' }), undefined);
  assert.equal(findGuardViolation(two, { a: 'abcd' })?.guard, 'maxStringLength');
  assert.equal(findGuardViolation(two, { a: '-b' })?.guard, 'noLeadingDash');
});

test('depth is bounded', () => {
  let v: unknown = 'x';
  for (let i = 0; i < MAX_GUARD_DEPTH + 2; i++) v = [v];
  assert.equal(findGuardViolation(guards({ noDotDot: true }), { a: v })?.guard, 'maxDepth');
  // inactive guards never walk
  assert.equal(findGuardViolation(guards({}), { a: v }), undefined);
});

test('checkGuards throws ERR_ARGUMENT_GUARD (-31215) with {guard, argument} and never the value', () => {
  const secret = '--output=/tmp/secret-marker';
  try {
    checkGuards(ALL, { repo_path: '/srv/repos/a', ref: secret });
    assert.fail('expected a refusal');
  } catch (e) {
    assert.ok(e instanceof GatewayError);
    assert.equal(e.code, 'ERR_ARGUMENT_GUARD');
    const rpc = e.toRpcError();
    assert.equal(rpc.code, -31215);
    assert.deepEqual(rpc.data, { portcullis: 'ERR_ARGUMENT_GUARD', guard: 'noLeadingDash', argument: '/ref' });
    assert.ok(!JSON.stringify(rpc).includes('secret-marker'));
  }
  checkGuards(ALL, { repo_path: '/srv/repos/a' });
});

test('config: roots must be absolute; unknown guard names are refused', () => {
  assert.equal(ArgumentGuards.safeParse({ roots: ['srv'] }).success, false);
  assert.equal(ArgumentGuards.safeParse({ noDashes: true }).success, false);
  assert.deepEqual(ArgumentGuards.parse({}).pathArgs, ['*path*', '*file*', '*dir*']);
});

test('noLeadingDash: every character String.prototype.trim() removes is skipped before the dash', () => {
  const dash = guards({ noLeadingDash: true });
  const leads = ['\n', '\r\n', '\v', '\f', '\u00a0', '\u1680', '\u2000', '\u200a', '\u2028', '\u2029', '\u202f', '\u205f', '\u3000', '\ufeff', ' \t\n\u00a0\ufeff'];
  for (const lead of ['\u001c', '\u001f', '\u0085']) {
    // not trimmed by JS, but by Python's str.strip() (mcp-server-git is Python)
    assert.deepEqual(findGuardViolation(dash, { ref: `${lead}-p` }), { guard: 'noLeadingDash', argument: '/ref' }, JSON.stringify(lead));
  }
  for (const lead of leads) {
    assert.equal(`${lead}--output=/tmp/x`.trim(), '--output=/tmp/x');
    assert.deepEqual(findGuardViolation(dash, { ref: `${lead}--output=/tmp/x` }), { guard: 'noLeadingDash', argument: '/ref' }, JSON.stringify(lead));
  }
  // Characters trim() keeps still hide nothing: the value is not an option once trimmed.
  for (const v of ['\u200b-x', 'a -x', '\u0085x', '\u180e-x', '']) assert.equal(findGuardViolation(dash, { ref: v }), undefined, JSON.stringify(v));
});

test('roots: default pathArgs match argument names case-insensitively', () => {
  const defaults = guards({ roots: ['/srv'] });
  for (const name of ['repoPath', 'Path', 'PATH', 'targetDir', 'FilePath', 'outputFile', 'WorkDir']) {
    assert.deepEqual(findGuardViolation(defaults, { [name]: '/etc/passwd' }), { guard: 'roots', argument: `/${name}` }, name);
    assert.equal(findGuardViolation(defaults, { [name]: '/srv/x' }), undefined, name);
  }
  // configured globs too, on both sides
  const named = guards({ roots: ['/srv'], pathArgs: ['Repo_Path', 'src?'] });
  assert.equal(findGuardViolation(named, { repo_path: '/etc' })?.guard, 'roots');
  assert.equal(findGuardViolation(named, { SRC1: '/etc' })?.guard, 'roots');
  assert.equal(findGuardViolation(named, { query: '/etc', cwd: '/etc' }), undefined);
});

test('roots: a `..` that appears only once decoded or folded is outside, whatever noDotDot says', () => {
  const rootsOnly = guards({ roots: ['/srv/repos'], pathArgs: ['*path*'] });
  for (const repo_path of ['/srv/repos/%2e%2e/etc', '/srv/repos/%252e%252e/etc', '/srv/repos/.%2e/etc', '/srv/repos/\uff0e\uff0e/etc', '/srv/repos/a/%2E%2E%2F%2E%2E/etc']) {
    assert.equal(findGuardViolation(rootsOnly, { repo_path })?.guard, 'roots', repo_path);
  }
  // Lexical `..` keeps its documented meaning, and ordinary escapes are names like any other.
  for (const repo_path of ['/srv/repos/a/../b', '/srv/repos/a%20b/c', '/srv/repos/100%25/x', '/srv/repos/%2e%2ehidden']) {
    assert.equal(findGuardViolation(rootsOnly, { repo_path }), undefined, repo_path);
  }
});
