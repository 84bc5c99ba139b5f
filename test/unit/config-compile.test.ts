import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigSchema } from '../../src/config/schema.js';
import { ConfigError, IN_PLACE_FIELDS, canonicalJson, compile, formatPath, upstreamChange, type CompiledUpstream } from '../../src/config/compile.js';
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

test('a reload replaces an upstream when a connection field changes and updates it in place otherwise', () => {
  const one = (entry: string) => loadConfigText(`upstreams:\n  - ${entry}\n`, { path: meta.path, env: {} }).upstreams[0]!;
  const stdio = (more = '') => one(`{name: a, kind: stdio, command: x, args: ["1"]${more}}`);
  const http = (more = '') => one(`{name: h, kind: streamable-http, url: "http://127.0.0.1:1/mcp"${more}}`);
  const sse = (more = '') => one(`{name: s, kind: sse, url: "http://127.0.0.1:1/sse"${more}}`);
  const change = (a: CompiledUpstream, b: CompiledUpstream) => upstreamChange(a, b);

  assert.deepEqual(change(stdio(), stdio()), { action: 'keep' });
  assert.deepEqual(change(stdio(), one('{args: ["1"], command: x, kind: stdio, name: a}')), { action: 'keep' }, 'key order is no change');
  // Explicit defaults are no change either: the entry is compared after defaults are applied.
  assert.deepEqual(change(stdio(), stdio(', timeouts: {total: 60s}')), { action: 'keep' });

  const inPlace: [string, CompiledUpstream, CompiledUpstream, string[]][] = [
    ['timeouts', stdio(), stdio(', timeouts: {total: 5s}'), ['timeouts']],
    ['connect timeout', http(), http(', timeouts: {connect: 2s}'), ['timeouts']],
    ['resilience', stdio(), stdio(', resilience: {retry: {attempts: 0}, breaker: {openFor: 1s}, bulkhead: {maxInFlight: 4}, cache: {resources: ["file:*"]}}'), ['resilience']],
    ['prefix and tags', sse(), sse(', prefix: p, tags: [t]'), ['prefix', 'tags']],
    ['restart policy', stdio(), stdio(', restart: {maxRestarts: 3}'), ['restart']],
    ['idle and lifetime', stdio(), stdio(', idleTimeout: 5m, maxLifetime: 1h'), ['idleTimeout', 'maxLifetime']],
  ];
  for (const [what, a, b, fields] of inPlace) assert.deepEqual(change(a, b), { action: 'update', fields }, what);

  const replaced: [string, CompiledUpstream, CompiledUpstream][] = [
    ['command', stdio(), one('{name: a, kind: stdio, command: y, args: ["1"]}')],
    ['args', stdio(), one('{name: a, kind: stdio, command: x, args: ["2"]}')],
    ['cwd', stdio(), stdio(', cwd: /tmp')],
    ['env', stdio(), stdio(', env: {A: "1"}')],
    ['envAllowlist', stdio(), stdio(', envAllowlist: [PATH]')],
    ['maxLineBytes', stdio(), stdio(', maxLineBytes: 1mb')],
    ['sharing', stdio(), stdio(', sharing: per-session')],
    ['tenant', stdio(), stdio(', tenant: acme')],
    ['shareWith', stdio(), stdio(', shareWith: [acme]')],
    ['url', http(), one('{name: h, kind: streamable-http, url: "http://127.0.0.1:2/mcp"}')],
    ['era', http(), http(', era: modern')],
    ['headers', http(), http(', headers: {x-a: "1"}')],
    ['auth', sse(), sse(', auth: {type: bearer, token: {env: T}}')],
    ['kind', sse(), one('{name: s, kind: streamable-http, url: "http://127.0.0.1:1/sse"}')],
    ['a connection and a setting together', stdio(), stdio(', env: {A: "1"}, timeouts: {total: 5s}')],
  ];
  for (const [what, a, b] of replaced) assert.deepEqual(change(a, b), { action: 'replace' }, what);
  // Any entry field not named in-place replaces: a field added to the schema later fails safe.
  assert.deepEqual([...IN_PLACE_FIELDS].sort(), ['idleTimeout', 'maxLifetime', 'prefix', 'resilience', 'restart', 'tags', 'timeouts']);
});
