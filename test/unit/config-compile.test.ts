import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigSchema } from '../../src/config/schema.js';
import { ConfigError, canonicalJson, compile, formatPath } from '../../src/config/compile.js';
import { loadConfigText } from '../../src/config/load.js';

const meta = { path: '/etc/portcullis/gw.yaml', version: 3 };

test('compile works on a parsed config without YAML and reports issues without lines', () => {
  const config = ConfigSchema.parse({
    upstreams: [
      { name: 'a', kind: 'sse', url: 'http://127.0.0.1:1/sse', prefix: '' },
      { name: 'b', kind: 'sse', url: 'http://127.0.0.1:1/sse', prefix: '' },
    ],
  });
  assert.throws(
    () => compile(config, meta),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.issues.length === 1 &&
      e.issues[0]!.path === 'upstreams[1].prefix' &&
      e.issues[0]!.line === undefined &&
      e.issues[0]!.message === 'empty prefix used more than once (also upstreams[0])',
  );
});

test('one empty prefix is allowed; disabled upstreams are left out and do not claim prefixes', () => {
  const config = ConfigSchema.parse({
    upstreams: [
      { name: 'a', kind: 'sse', url: 'http://127.0.0.1:1/sse', prefix: '' },
      { name: 'b', kind: 'sse', url: 'http://127.0.0.1:1/sse', prefix: '', enabled: false },
      { name: 'c', kind: 'streamable-http', url: 'http://127.0.0.1:1/mcp', era: 'modern', tags: ['web'] },
    ],
    virtualServers: [{ name: 'v', include: [{ upstream: 'b' }] }],
  });
  const snap = compile(config, meta);
  assert.equal(snap.version, 3);
  assert.equal(snap.configDir, '/etc/portcullis');
  assert.deepEqual(
    snap.upstreams.map((u) => [u.name, u.prefix, u.kind]),
    [
      ['a', '', 'sse'],
      ['c', 'c', 'streamable-http'],
    ],
  );
  assert.equal(snap.config.upstreams.length, 3, 'the config itself keeps every entry');
});

test('stdio paths: a bare name stays for PATH lookup, relative paths resolve against the config dir', () => {
  const config = ConfigSchema.parse({
    upstreams: [
      { name: 'a', kind: 'stdio', command: 'node', args: ['./server.js'] },
      { name: 'b', kind: 'stdio', command: './bin/server', cwd: '../work' },
      { name: 'c', kind: 'stdio', command: '/usr/bin/env', cwd: '/tmp' },
    ],
  });
  const [a, b, c] = compile(config, meta).upstreams;
  assert.ok(a?.kind === 'stdio' && b?.kind === 'stdio' && c?.kind === 'stdio');
  assert.deepEqual([a.command, a.args, a.cwd], ['node', ['./server.js'], '/etc/portcullis']);
  assert.deepEqual([b.command, b.cwd], ['/etc/portcullis/bin/server', '/etc/work']);
  assert.deepEqual([c.command, c.cwd], ['/usr/bin/env', '/tmp']);
});

test('virtual servers compile to maps and glob matchers', () => {
  const snap = loadConfigText(
    [
      'upstreams:',
      '  - {name: git, kind: stdio, command: git-mcp}',
      'virtualServers:',
      '  - name: review',
      '    description: Code review tools',
      '    eras: modern',
      '    include:',
      '      - upstream: git',
      '        tools: ["git__log", "git__diff*"]',
      '        resources: false',
      '      - tags: [web]',
      '    rename: {git__log: history}',
      '    descriptions: {git__log: Shows history}',
    ].join('\n'),
    { path: meta.path, env: {} },
  );
  const [vs] = snap.virtualServers;
  assert.ok(vs);
  assert.equal(vs.name, 'review');
  assert.equal(vs.description, 'Code review tools');
  assert.equal(vs.eras, 'modern');
  assert.deepEqual([...vs.rename], [['git__log', 'history']]);
  assert.deepEqual([...vs.descriptions], [['git__log', 'Shows history']]);
  const [sel, byTag] = vs.include;
  assert.ok(sel && byTag);
  assert.equal(sel.upstream, 'git');
  assert.equal(sel.resources, false);
  assert.equal(sel.prompts, undefined, 'omitted globs mean "all"');
  assert.equal(sel.tools?.('git__log'), true);
  assert.equal(sel.tools?.('git__diff_staged'), true);
  assert.equal(sel.tools?.('git__commit'), false);
  assert.deepEqual(byTag.tags, ['web']);
  assert.equal(byTag.tools, undefined);
  assert.equal(byTag.resources, true);
});

test('the snapshot is deeply frozen', () => {
  const snap = loadConfigText('upstreams:\n  - {name: a, kind: stdio, command: a, args: [x]}\n', { path: meta.path, env: {} });
  assert.ok(Object.isFrozen(snap));
  assert.ok(Object.isFrozen(snap.gateway.limits));
  assert.ok(Object.isFrozen(snap.upstreams));
  assert.ok(Object.isFrozen(snap.config.upstreams[0]));
  const up = snap.upstreams[0];
  assert.ok(up?.kind === 'stdio');
  assert.ok(Object.isFrozen(up.args));
  assert.throws(() => {
    (up.args as string[]).push('y');
  }, TypeError);
});

test('fingerprints ignore key order and change exactly when the entry changes', () => {
  const fp = (yaml: string) => loadConfigText(yaml, { path: meta.path, env: {} }).upstreams.map((u) => u.fingerprint);
  const [a1, b1] = fp('upstreams:\n  - {name: a, kind: stdio, command: x, args: ["1"]}\n  - {name: b, kind: sse, url: "http://127.0.0.1:1/sse"}\n');
  const [a2, b2] = fp('upstreams:\n  - {args: ["1"], command: x, kind: stdio, name: a}\n  - {name: b, kind: sse, url: "http://127.0.0.1:1/sse", tags: [t]}\n');
  assert.equal(a1, a2);
  assert.notEqual(b1, b2);
  assert.equal(canonicalJson({ b: 1, a: [{ d: 2, c: undefined }] }), '{"a":[{"d":2}],"b":1}');
});

test('formatPath quotes keys that are not identifiers', () => {
  assert.equal(formatPath(['upstreams', 2, 'command']), 'upstreams[2].command');
  assert.equal(formatPath(['upstreams', 0, 'env', 'A.B']), 'upstreams[0].env["A.B"]');
  assert.equal(formatPath([]), '(root)');
});

test("a virtual server may include only its own tenant's upstreams and those shared with it", () => {
  const config = ConfigSchema.parse({
    upstreams: [
      { name: 'mine', kind: 'sse', url: 'http://127.0.0.1:1/sse', tenant: 'acme' },
      { name: 'theirs', kind: 'sse', url: 'http://127.0.0.1:1/sse', tenant: 'globex' },
      { name: 'lent', kind: 'sse', url: 'http://127.0.0.1:1/sse', tenant: 'globex', shareWith: ['acme'] },
      { name: 'public', kind: 'sse', url: 'http://127.0.0.1:1/sse', shareWith: ['*'] },
    ],
    virtualServers: [{ name: 'team', tenant: 'acme', include: [{ upstream: 'mine' }, { upstream: 'theirs' }, { upstream: 'lent' }, { upstream: 'public' }] }],
  });
  assert.throws(
    () => compile(config, meta),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.issues.length === 1 &&
      e.issues[0]!.path === 'virtualServers[0].include[1].upstream' &&
      e.issues[0]!.message === 'upstream "theirs" belongs to tenant "globex" and is not shared with "acme"',
  );
  const snap = compile(ConfigSchema.parse({ ...config, virtualServers: [{ name: 'team', tenant: 'acme', include: [{ upstream: 'lent' }] }] }), meta);
  assert.equal(snap.virtualServers[0]!.tenant, 'acme');
  assert.deepEqual([...snap.upstreams[2]!.shareWith], ['acme']);
  assert.equal(snap.upstreams[0]!.tenant, 'acme');
});
