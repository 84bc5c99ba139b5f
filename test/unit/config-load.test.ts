import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, formatIssue, loadConfigFile, loadConfigText } from '../../src/config/load.js';

const PATH = '/srv/portcullis/portcullis.yaml';

/** Loads text expected to be invalid and returns its issue lines. */
function issuesOf(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    loadConfigText(text, { path: PATH, env });
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    assert.ok(e.issues.length > 0);
    return e.issues.map(formatIssue);
  }
  assert.fail('expected a ConfigError');
}

const lines = (...l: string[]) => `${l.join('\n')}\n`;

test('missing command in the third upstream names the path and the line of that entry', () => {
  const text = lines(
    'gateway:', //                         1
    '  port: 9000', //                     2
    'upstreams:', //                       3
    '  - name: one', //                    4
    '    kind: stdio', //                  5
    '    command: node', //                6
    '  - name: two', //                    7
    '    kind: streamable-http', //        8
    '    url: http://127.0.0.1:1/mcp', //  9
    '  # the broken one', //              10
    '', //                                11
    '  - name: three', //                 12
    '    kind: stdio', //                 13
    '    args: [server.js]', //           14
  );
  assert.deepEqual(issuesOf(text), ['upstreams[2].command: required (line 12)']);
});

test('the error message lists every issue, one per line', () => {
  const text = lines('upstreams:', '  - name: a', '    kind: stdio');
  try {
    loadConfigText(text, { path: PATH, env: {} });
    assert.fail('expected a ConfigError');
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    assert.equal(e.message, 'upstreams[0].command: required (line 2)');
    assert.deepEqual(e.issues, [{ path: 'upstreams[0].command', line: 2, message: 'required' }]);
  }
});

test('wrong type, unknown key and bad duration each carry their own line', () => {
  const text = lines(
    'gateway:', //               1
    '  port: eighty', //         2
    '  limits:', //              3
    '    maxBodyBytes: 1gb', //  4
    'upstreams:', //             5
    '  - name: a', //            6
    '    kind: stdio', //        7
    '    command: node', //      8
    '    idleTimeout: 5 min', // 9
    '    colour: blue', //       10
    '    timeouts:', //          11
    '      total: 1w', //        12
  );
  assert.deepEqual(issuesOf(text), [
    'gateway.port: expected number, got string (line 2)',
    'gateway.limits.maxBodyBytes: size like 512kb or 1mb (line 4)',
    'upstreams[0].timeouts.total: duration like 500ms, 30s, 5m, 1h or 30d (line 12)',
    'upstreams[0].idleTimeout: duration like 500ms, 30s, 5m, 1h or 30d (line 9)',
    'upstreams[0].colour: unknown key (line 10)',
  ]);
});

test('unknown and missing kinds list the choices', () => {
  const text = lines('upstreams:', '  - name: a', '    kind: docker', '  - name: b', '    command: x');
  assert.deepEqual(issuesOf(text), [
    'upstreams[0].kind: expected one of stdio, streamable-http, sse, openapi (line 3)',
    'upstreams[1].kind: required (one of stdio, streamable-http, sse, openapi) (line 4)',
  ]);
});

test('a top-level unknown key and a non-mapping document are reported', () => {
  assert.deepEqual(issuesOf(lines('gateway: {}', 'upstream: []')), ['upstream: unknown key (line 2)']);
  assert.deepEqual(issuesOf(lines('- a', '- b')), ['(root): expected object, got a list (line 1)']);
});

test('duplicate upstream names, duplicate prefixes and the reserved openapi kind', () => {
  const text = lines(
    'upstreams:', //                         1
    '  - name: git', //                      2
    '    kind: stdio', //                    3
    '    command: git-mcp', //               4
    '  - name: git', //                      5
    '    kind: sse', //                      6
    '    url: http://127.0.0.1:1/sse', //    7
    '  - name: other', //                    8
    '    prefix: git', //                    9
    '    kind: sse', //                      10
    '    url: http://127.0.0.1:1/sse', //    11
    '  - name: api', //                      12
    '    kind: openapi', //                  13
    '    spec: ./api.yaml', //               14
  );
  assert.deepEqual(issuesOf(text), [
    'upstreams[1].name: duplicate upstream name "git" (also upstreams[0]) (line 5)',
    'upstreams[1].name: duplicate prefix "git" (also upstreams[0]) (line 5)',
    'upstreams[2].prefix: duplicate prefix "git" (also upstreams[0]) (line 9)',
    'upstreams[3].kind: the openapi adapter is not available yet (reserved for a later release) (line 13)',
  ]);
});

test('virtual servers: duplicates, the reserved name mcp, unknown upstreams', () => {
  const text = lines(
    'upstreams:', //                    1
    '  - name: a', //                   2
    '    kind: stdio', //               3
    '    command: a', //                4
    'virtualServers:', //               5
    '  - name: mcp', //                 6
    '    include: [{upstream: a}]', //  7
    '  - name: v', //                   8
    '    include:', //                  9
    '      - upstream: nope', //        10
    '  - name: v', //                   11
    '    include: [{tags: [x]}]', //    12
  );
  assert.deepEqual(issuesOf(text), [
    'virtualServers[0].name: "mcp" is reserved (line 6)',
    'virtualServers[1].include[0].upstream: unknown upstream "nope" (line 10)',
    'virtualServers[2].name: duplicate virtual server name "v" (also virtualServers[1]) (line 11)',
  ]);
});

test('YAML syntax errors and duplicate keys become issues with lines', () => {
  const [syntax] = issuesOf(lines('gateway:', '  port: 1', 'upstreams: [', '  {name: a'));
  assert.match(syntax!, /^\(yaml\): .+ \(line \d+\)$/);
  assert.deepEqual(issuesOf(lines('gateway:', '  port: 1', '  port: 2')), ['(yaml): Map keys must be unique (line 3)']);
});

test('an unset variable without a default names the path and the variable', () => {
  const text = lines(
    'upstreams:', //                           1
    '  - name: s', //                          2
    '    kind: streamable-http', //            3
    '    url: http://127.0.0.1:1/mcp', //      4
    '    headers:', //                         5
    '      Authorization: Bearer ${TOKEN}', // 6
  );
  assert.deepEqual(issuesOf(text), [
    'upstreams[0].headers.Authorization: environment variable TOKEN is not set (use ${TOKEN:-default} for a fallback) (line 6)',
  ]);
  // The value never leaks into messages: the set case loads.
  const snap = loadConfigText(text, { path: PATH, env: { TOKEN: 's3cret' } });
  const up = snap.upstreams[0];
  assert.ok(up?.kind === 'streamable-http');
  assert.equal(up.headers.Authorization, 'Bearer s3cret');
});

test('interpolation: defaults, empty values, escapes, several variables in one string', () => {
  const text = lines(
    'gateway:',
    '  host: ${HOST:-127.0.0.1}',
    '  dataDir: ${BASE}/data-${SUFFIX:-x}',
    'upstreams:',
    '  - name: e',
    '    kind: stdio',
    '    command: ${CMD}',
    '    env:',
    '      EMPTY: "${EMPTY}"',
    '      FALLBACK: ${EMPTY:-used}',
    '      LITERAL: $${NOT_A_VAR}',
    '      KEEP: plain $ and {braces}',
  );
  const snap = loadConfigText(text, { path: PATH, env: { BASE: '/var/lib', CMD: 'my-server', EMPTY: '' } });
  assert.equal(snap.gateway.host, '127.0.0.1');
  assert.equal(snap.gateway.dataDir, '/var/lib/data-x');
  const up = snap.upstreams[0];
  assert.ok(up?.kind === 'stdio');
  assert.equal(up.command, 'my-server');
  assert.deepEqual(up.env, { EMPTY: '', FALLBACK: 'used', LITERAL: '${NOT_A_VAR}', KEEP: 'plain $ and {braces}' });
});

test('defaults are applied to an empty file and to a minimal upstream', () => {
  const empty = loadConfigText('', { path: PATH, env: {} });
  assert.equal(empty.version, 1);
  assert.equal(empty.configPath, PATH);
  assert.equal(empty.configDir, '/srv/portcullis');
  assert.equal(empty.logLevel, 'info');
  assert.deepEqual(empty.gateway, {
    host: '127.0.0.1',
    port: 8080,
    allowedOrigins: new Set(),
    allowedHosts: new Set(),
    dataDir: '/srv/portcullis/.portcullis',
    storage: 'sqlite',
    separator: '__',
    pageSize: 100,
    limits: { maxBodyBytes: 1048576, maxHeaderBytes: 16384, headersTimeoutMs: 30000, maxJsonDepth: 64, maxUpstreamMessageBytes: 16777216 },
    sessions: { idleTtlMs: 1_800_000, max: 10000, resumeBufferEvents: 256 },
    shutdownGraceMs: 5000,
    overload: { lagMs: 500, heapFraction: 0.9, recoverFraction: 0.8, sampleIntervalMs: 1000 },
  });
  assert.deepEqual(empty.upstreams, []);
  assert.deepEqual(empty.virtualServers, []);
  // No policy section: the policy stage is off; no rate-limit rules: nothing is counted.
  assert.equal(empty.policy.enabled, false);
  assert.equal(empty.rateLimits.enabled, false);
  // Metrics on the main listener (behind auth when configured); tracing off (docs/observability.md).
  assert.deepEqual(empty.observability, { metrics: { enabled: true, maxTenants: 100 } });
  // The audit log is on by default, under the data directory (docs/audit.md).
  const { retention, ...auditRest } = empty.audit;
  assert.equal(retention.maxAgeMs, undefined, 'audit segments are kept forever unless retention is set');
  assert.deepEqual(auditRest, {
    enabled: true,
    dir: '/srv/portcullis/.portcullis/audit',
    origin: 'portcullis',
    checkpointIntervalMs: 1000,
    checkpointRecords: 1000,
    groupCommitMs: 2,
    groupCommitRecords: 512,
    segmentBytes: 64 * 1024 * 1024,
    segmentAgeMs: 3_600_000,
    retryAfterMs: 1000,
    witnesses: [],
    witnessService: { enabled: false, dir: '/srv/portcullis/.portcullis/witness', trustedKeys: [] },
    sinks: [],
    retentionTenants: [],
  });

  const one = loadConfigText(lines('upstreams:', '  - {name: fs, kind: stdio, command: fs-server}'), { path: PATH, env: {} });
  const up = one.upstreams[0];
  assert.ok(up?.kind === 'stdio');
  const { fingerprint, connectionFingerprint, settingFingerprints, resilience, ...rest } = up;
  assert.match(fingerprint, /^[0-9a-f]{64}$/);
  assert.match(connectionFingerprint, /^[0-9a-f]{64}$/);
  assert.deepEqual(Object.keys(settingFingerprints), ['prefix', 'tags', 'timeouts', 'resilience', 'restart', 'idleTimeout', 'maxLifetime']);
  assert.deepEqual(resilience.bulkhead, { maxInFlight: 256, queue: 1000, queueTimeoutMs: 30_000 });
  assert.equal(resilience.breaker.enabled, true);
  assert.equal(resilience.cache.enabled, false);
  assert.deepEqual(rest, {
    name: 'fs',
    prefix: 'fs',
    tags: [],
    tenant: 'default',
    shareWith: new Set(),
    timeouts: { connectMs: 10_000, firstByteMs: 30_000, totalMs: 60_000 },
    kind: 'stdio',
    command: 'fs-server',
    args: [],
    cwd: '/srv/portcullis',
    env: {},
    envAllowlist: ['PATH', 'HOME', 'LANG', 'TZ'],
    sharing: 'shared',
    restart: { initialDelayMs: 200, maxDelayMs: 30_000, maxRestarts: 10, windowMs: 300_000 },
    idleTimeoutMs: 0,
    maxLifetimeMs: 0,
    maxLineBytes: 16 * 1024 * 1024,
  });
});

test('PORTCULLIS_PORT overrides gateway.port and must be an integer 0-65535', () => {
  const text = lines('gateway:', '  port: 9000');
  assert.equal(loadConfigText(text, { path: PATH, env: {} }).gateway.port, 9000);
  assert.equal(loadConfigText(text, { path: PATH, env: { PORTCULLIS_PORT: '0' } }).gateway.port, 0);
  assert.equal(loadConfigText(text, { path: PATH, env: { PORTCULLIS_PORT: '65535' } }).gateway.port, 65535);
  assert.equal(loadConfigText(text, { path: PATH, env: { PORTCULLIS_PORT: '' } }).gateway.port, 9000);
  for (const bad of ['65536', '-1', '80a', '8.5', ' 80']) {
    assert.deepEqual(issuesOf(text, { PORTCULLIS_PORT: bad }), ['PORTCULLIS_PORT: must be an integer from 0 to 65535'], bad);
  }
});

test('loadConfigFile reads a file, resolves paths against its directory, and passes fs errors through', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-load-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'gw.yaml');
  writeFileSync(file, lines('gateway:', '  dataDir: state', 'upstreams:', '  - {name: a, kind: stdio, command: ./bin/a, cwd: work}'));
  const snap = loadConfigFile(file, {}, 7);
  assert.equal(snap.version, 7);
  assert.equal(snap.gateway.dataDir, join(dir, 'state'));
  const up = snap.upstreams[0];
  assert.ok(up?.kind === 'stdio');
  assert.equal(up.command, join(dir, 'bin/a'));
  assert.equal(up.cwd, join(dir, 'work'));
  assert.throws(() => loadConfigFile(join(dir, 'missing.yaml'), {}), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
});

test('a duration longer than the longest timer (2^31−1 ms) is refused with its path and line', () => {
  // Node.js runs a longer setTimeout after 1 ms: `maxLifetime: 30d` was a respawn storm and
  // `shutdownGrace: 30d` an immediate exit.
  const TOO_LONG = 'at most 24d (2147483647 ms, the longest timer Node.js can set)';
  const text = lines(
    'gateway:', //                            1
    '  shutdownGrace: 30d', //                2
    '  sessions: {idleTtl: 25d}', //          3
    'upstreams:', //                          4
    '  - name: a', //                         5
    '    kind: stdio', //                     6
    '    command: node', //                   7
    '    maxLifetime: 30d', //                8
    '    idleTimeout: 2147483648', //         9
    '    restart: {maxDelay: 999999999d}', // 10
    '    timeouts: {total: 597h}', //         11
  );
  assert.deepEqual(issuesOf(text), [
    `gateway.sessions.idleTtl: ${TOO_LONG} (line 3)`,
    `gateway.shutdownGrace: ${TOO_LONG} (line 2)`,
    `upstreams[0].timeouts.total: ${TOO_LONG} (line 11)`,
    `upstreams[0].restart.maxDelay: ${TOO_LONG} (line 10)`,
    `upstreams[0].idleTimeout: ${TOO_LONG} (line 9)`,
    `upstreams[0].maxLifetime: ${TOO_LONG} (line 8)`,
  ]);
  // Up to the limit is fine, whatever the unit.
  const ok = loadConfigText(
    lines(
      'gateway: {shutdownGrace: 24d}',
      'upstreams:',
      '  - {name: a, kind: stdio, command: node, maxLifetime: 2147483647, idleTimeout: 2147483s, restart: {maxDelay: 596h}, timeouts: {total: 35791m}}',
    ),
    { path: PATH, env: {} },
  );
  assert.equal(ok.gateway.shutdownGraceMs, 24 * 86_400_000);
  const u = ok.upstreams[0];
  assert.ok(u?.kind === 'stdio');
  assert.equal(u.maxLifetimeMs, 2_147_483_647);
  assert.equal(u.idleTimeoutMs, 2_147_483_000);
  assert.equal(u.restart.maxDelayMs, 596 * 3_600_000);
  assert.equal(u.timeouts.totalMs, 35_791 * 60_000);
});

test('limits.headersTimeout: under 1s or over the timer limit is refused with its path and line', () => {
  for (const [value, message] of [
    ['500ms', 'at least 1s'],
    ['999', 'at least 1s'],
    ['25d', 'at most 24d'],
    ['soon', 'duration like'],
  ] as const) {
    const issues = issuesOf(lines('gateway:', '  limits:', `    headersTimeout: ${value}`));
    assert.equal(issues.length, 1, `${value}: ${issues.join('; ')}`);
    assert.ok(issues[0]!.startsWith('gateway.limits.headersTimeout: ') && issues[0]!.includes(message) && issues[0]!.endsWith('(line 3)'), `${value}: ${issues[0]}`);
  }
  const ok = loadConfigText(lines('gateway:', '  limits:', '    headersTimeout: 1s'), { path: PATH, env: {} });
  assert.equal(ok.gateway.limits.headersTimeoutMs, 1000);
});

test('a zero size is refused by the schema with its path and line, in any unit', () => {
  // It used to pass the schema and throw a RangeError in compile, with no path or line.
  const ZERO = 'must be more than 0 bytes (a size like 512kb or 1mb)';
  const text = lines(
    'gateway:', //                   1
    '  limits:', //                  2
    '    maxBodyBytes: 0mb', //      3
    '    maxHeaderBytes: 0b', //     4
    '    maxUpstreamMessageBytes: 0', // 5
    'upstreams:', //                 6
    '  - name: a', //                7
    '    kind: stdio', //            8
    '    command: node', //          9
    '    maxLineBytes: 0kb', //      10
    '  - name: b', //                11
    '    kind: stdio', //            12
    '    command: node', //          13
    '    maxLineBytes: 000KB', //    14
  );
  assert.deepEqual(issuesOf(text), [
    `gateway.limits.maxBodyBytes: ${ZERO} (line 3)`,
    `gateway.limits.maxHeaderBytes: ${ZERO} (line 4)`,
    `gateway.limits.maxUpstreamMessageBytes: ${ZERO} (line 5)`,
    `upstreams[0].maxLineBytes: ${ZERO} (line 10)`,
    `upstreams[1].maxLineBytes: ${ZERO} (line 14)`,
  ]);
  // One byte, and sizes with leading zeros that are not zero, are fine.
  const ok = loadConfigText(lines('upstreams:', '  - {name: a, kind: stdio, command: node, maxLineBytes: 1b}', '  - {name: b, kind: stdio, command: node, maxLineBytes: 010kb}'), { path: PATH, env: {} });
  assert.deepEqual(
    ok.upstreams.map((x) => (x.kind === 'stdio' ? x.maxLineBytes : undefined)),
    [1, 10 * 1024],
  );
});

test('a file with several YAML documents gets one clear issue at the second document', () => {
  const ONE_DOC = "(yaml): a config file holds one YAML document, found a second one starting here (a '---' line starts a new document, a '...' line ends one)";
  assert.deepEqual(issuesOf(lines('gateway:', '  port: 1', '---', 'upstreams: []')), [`${ONE_DOC} (line 3)`]);
  assert.deepEqual(issuesOf(lines('gateway: {port: 1}', '---', 'log: {}', '---', 'log: {}')), [`${ONE_DOC} (line 2)`]);
  // A trailing '---' starts an (empty) second document too.
  assert.deepEqual(issuesOf(lines('gateway: {port: 1}', '---')), [`${ONE_DOC} (line 2)`]);
  // After a '...' document end, the next content is a second document.
  assert.deepEqual(issuesOf(lines('gateway: {port: 1}', '...', 'log: {}')), [`${ONE_DOC} (line 3)`]);
  // One document with explicit start and end markers is fine.
  assert.equal(loadConfigText(lines('---', 'gateway: {port: 1}', '...'), { path: PATH, env: {} }).gateway.port, 1);
});

test('${VAR} where a number or a boolean is expected is converted; a literal string or non-numeric text is still an error', () => {
  const text = lines(
    'gateway:',
    '  port: ${PORT}',
    'upstreams:',
    '  - name: one',
    '    kind: stdio',
    '    command: /bin/true',
    '    enabled: ${ONE_ON:-false}',
    '    env: { TOKEN: "${TOKEN}" }',
  );
  const snap = loadConfigText(text, { path: PATH, env: { PORT: '9123', TOKEN: '12345' } });
  assert.equal(snap.gateway.port, 9123);
  assert.equal(snap.upstreams.length, 0, 'enabled: false from the fallback');
  assert.deepEqual(issuesOf(text, { PORT: 'http', TOKEN: '1' }), ['gateway.port: expected number, got string (line 2)']);
  assert.deepEqual(issuesOf(lines('gateway:', '  port: "9123"')), ['gateway.port: expected number, got string (line 2)']);
});
