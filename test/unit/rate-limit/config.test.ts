import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../../src/config/compile.js';
import { loadConfigText } from '../../../src/config/load.js';
import { parseRate } from '../../../src/stages/rate-limit/compile.js';

const load = (yaml: string) => loadConfigText(yaml, { path: '/tmp/pcl-rl/gw.yaml', env: {} });

function issuesOf(yaml: string): { path: string; line?: number; message: string }[] {
  try {
    load(yaml);
  } catch (e) {
    if (e instanceof ConfigError) return [...e.issues];
    throw e;
  }
  assert.fail('config was accepted');
}

test('parseRate: counts per window in every unit; a bare unit means one of it', () => {
  assert.deepEqual(parseRate('100/1m'), { count: 100, windowMs: 60_000 });
  assert.deepEqual(parseRate('10/s'), { count: 10, windowMs: 1000 });
  assert.deepEqual(parseRate('5000/1d'), { count: 5000, windowMs: 86_400_000 });
  assert.deepEqual(parseRate('3/250ms'), { count: 3, windowMs: 250 });
  assert.deepEqual(parseRate('7 / 2h'), { count: 7, windowMs: 7_200_000 });
  for (const bad of ['0/1m', '5/0s', '100', '100/1w', '-1/1m', '1e3/1m', '100/1m/2']) assert.equal(parseRate(bad), undefined, bad);
});

test('a full section compiles: defaults, burst, quota, costs, filters, redis settings', () => {
  const snap = load(
    [
      'rateLimits:',
      '  store: redis',
      '  redis: { url: "redis://127.0.0.1:6379", keyPrefix: "t:" }',
      '  rules:',
      '    - { name: per-principal, by: [tenant, principal], rate: 100/1m, burst: 20 }',
      '    - { name: git, by: [tool], match: { tools: ["git__*"], tenants: [acme], methods: [tools/call] }, rate: 10/s }',
      '    - { name: daily, by: [tenant], quota: 10000/1d }',
      '  costs: { "search__*": 5, "free__*": 0 }',
    ].join('\n'),
  );
  const rl = snap.rateLimits;
  assert.equal(rl.enabled, true);
  assert.equal(rl.store, 'redis');
  assert.deepEqual(rl.redis, { url: 'redis://127.0.0.1:6379', keyPrefix: 't:', timeoutMs: 250, onUnavailable: 'deny' });
  const [pp, git, daily] = rl.rules;
  assert.deepEqual(pp!.rate, { capacity: 20, msPerToken: 600 });
  assert.deepEqual([...pp!.methods].sort(), ['prompts/get', 'resources/read', 'tools/call']);
  assert.deepEqual(git!.rate, { capacity: 10, msPerToken: 100 }, 'burst defaults to the count of the rate');
  assert.ok(git!.tools!('git__status') && !git!.tools!('github__x'));
  assert.deepEqual([...git!.tenants!], ['acme']);
  assert.deepEqual(daily!.quota, { limit: 10_000, windowMs: 86_400_000 });
  assert.equal(daily!.rate, undefined);
  assert.equal(rl.cost('search__web'), 5);
  assert.equal(rl.cost('free__x'), 0);
  assert.equal(rl.cost('other'), 1);
});

test('no section: disabled, memory store, no rules', () => {
  const rl = load('upstreams: []').rateLimits;
  assert.equal(rl.enabled, false);
  assert.equal(rl.store, 'memory');
  assert.deepEqual(rl.rules, []);
});

test('rule ids depend only on the rule: unchanged rules keep their id across reloads, changed ones do not', () => {
  const a = load('rateLimits: { rules: [{ name: r1, rate: 10/s }, { name: r2, rate: 5/s }] }').rateLimits;
  const b = load('rateLimits: { costs: { "x*": 3 }, rules: [{ name: r0, quota: 1/1d }, { name: r1, rate: 10/s }, { name: r2, rate: 6/s }] }').rateLimits;
  assert.equal(a.rules[0]!.id, b.rules[1]!.id);
  assert.notEqual(a.rules[1]!.id, b.rules[2]!.id);
});

test('semantic errors name their YAML paths and lines', () => {
  const issues = issuesOf(
    [
      'rateLimits:', //                                              1
      '  store: redis', //                                           2
      '  rules:', //                                                 3
      '    - { name: a, rate: 10/s }', //                            4
      '    - { name: a, by: [tenant, tenant], rate: 0/1s }', //      5
      '    - { name: c, burst: 3, quota: 5/1d }', //                 6
      '    - { name: d }', //                                        7
    ].join('\n'),
  );
  const byPath = Object.fromEntries(issues.map((i) => [i.path, i]));
  assert.match(byPath['rateLimits.rules[1].name']!.message, /duplicate rule name "a"/);
  assert.equal(byPath['rateLimits.rules[1].name']!.line, 5);
  assert.match(byPath['rateLimits.rules[1].by']!.message, /twice/);
  assert.match(byPath['rateLimits.rules[1].rate']!.message, /positive/);
  assert.match(byPath['rateLimits.rules[2].burst']!.message, /needs `rate`/);
  assert.match(byPath['rateLimits.rules[3]']!.message, /needs `rate` or `quota`/);
  assert.match(byPath['rateLimits.redis']!.message, /required when store is redis/);
});

test('schema errors: malformed rates, unknown dimensions and fields are refused with paths', () => {
  const issues = issuesOf('rateLimits: { rules: [{ name: a, rate: "100 per minute", by: [planet], extra: 1 }], redis: { url: "http://x" } }');
  const paths = issues.map((i) => i.path);
  assert.ok(paths.includes('rateLimits.rules[0].rate'), paths.join());
  assert.ok(paths.includes('rateLimits.rules[0].by[0]'), paths.join());
  assert.ok(paths.some((p) => p.startsWith('rateLimits.rules[0]')) && issues.some((i) => /extra/.test(i.message) || /extra/.test(i.path)), JSON.stringify(issues));
  assert.ok(paths.includes('rateLimits.redis.url'), paths.join());
});
