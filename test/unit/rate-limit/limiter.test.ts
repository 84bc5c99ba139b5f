import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfigText } from '../../../src/config/load.js';
import { silentLogger } from '../../../src/observability/logger.js';
import type { CallContext } from '../../../src/pipeline/context.js';
import { GatewayError } from '../../../src/pipeline/errors.js';
import { createLimiter, keyOf, matches } from '../../../src/ratelimit/limiter.js';
import { limitStatus, retryAfter } from '../../../src/ratelimit/http.js';
import type { Route } from '../../../src/stages/route/route.js';

const rules = (yaml: string) => loadConfigText(`rateLimits:\n${yaml}`, { path: '/tmp/pcl-rl/gw.yaml', env: {} }).rateLimits;

function ctx(o: { tenant?: string; subject?: string; server?: string; method?: string } = {}): CallContext {
  return {
    principal: { tenant: o.tenant ?? 'acme', subject: o.subject ?? 'alice', roles: [], groups: [], authMethod: 'api-key' },
    view: { name: o.server ?? 'default' },
    request: { jsonrpc: '2.0', id: 1, method: o.method ?? 'tools/call' },
  } as unknown as CallContext;
}

const toolRoute = (upstream: string, tool: string): Route => ({ kind: 'upstream', upstream, method: 'tools/call', params: {}, target: { upstream, original: tool, exposed: `${upstream}__${tool}`, def: {} } as never });
const local: Route = { kind: 'local', method: 'tools/list' };

test('keys: one part per dimension in order; principal is scoped by its tenant', () => {
  const rl = rules('  rules: [{ name: k, by: [server, tenant, principal, upstream, tool], rate: 1/s }]');
  const k = keyOf(rl.rules[0]!, ctx({ tenant: 'acme', subject: 'alice', server: 'team' }), 'git', 'git__log');
  assert.deepEqual(k.split('\u001f'), [rl.rules[0]!.id, 'team', 'acme', 'acme', 'alice', 'git', 'git__log']);
  const none = rules('  rules: [{ name: g, rate: 1/s }]');
  assert.equal(keyOf(none.rules[0]!, ctx(), '', ''), none.rules[0]!.id, 'no dimensions: one global bucket');
});

test('matching: methods default to tools/call, prompts/get, resources/read; filters narrow', () => {
  const rl = rules(
    [
      '  rules:',
      '    - { name: all, rate: 1/s }',
      '    - { name: lists, match: { methods: [tools/list] }, rate: 1/s }',
      '    - { name: git, match: { tools: ["git__*"], tenants: [acme], servers: [default], upstreams: [git] }, rate: 1/s }',
    ].join('\n'),
  );
  const [all, lists, git] = rl.rules;
  assert.ok(matches(all!, 'tools/call', ctx(), 'git', 'git__log'));
  assert.ok(matches(all!, 'resources/read', ctx(), 'git', undefined));
  assert.ok(!matches(all!, 'tools/list', ctx(), undefined, undefined));
  assert.ok(!matches(all!, 'ping', ctx(), undefined, undefined));
  assert.ok(matches(lists!, 'tools/list', ctx(), undefined, undefined));
  assert.ok(matches(git!, 'tools/call', ctx(), 'git', 'git__log'));
  assert.ok(!matches(git!, 'tools/call', ctx({ tenant: 'other' }), 'git', 'git__log'));
  assert.ok(!matches(git!, 'tools/call', ctx({ server: 'team' }), 'git', 'git__log'));
  assert.ok(!matches(git!, 'tools/call', ctx(), 'git', 'gitlab__x'));
  assert.ok(!matches(git!, 'resources/read', ctx(), 'git', undefined), 'a tools filter needs a named target');
});

test('limiter (memory): synchronous refusals with codes and retryAfterMs; tenants are separate; costs apply', async () => {
  const limiter = createLimiter(silentLogger);
  try {
    const costs = '  costs: { "mock__big": 3, "mock__free": 0 }';
    let rl = rules(['  rules: [{ name: t, by: [tenant], rate: 10/1m, burst: 3 }]', costs].join('\n'));
    const call = (c: CallContext, r: Route): unknown => {
      try {
        const p = limiter.check(rl, c, r);
        assert.equal(p, undefined, 'the memory path returns no Promise');
        return undefined;
      } catch (e) {
        return e;
      }
    };
    assert.equal(call(ctx(), toolRoute('mock', 'echo')), undefined);
    assert.equal(call(ctx(), toolRoute('mock', 'echo')), undefined);
    assert.equal(call(ctx(), toolRoute('mock', 'free')), undefined, 'free tools are not counted');
    const e = call(ctx(), toolRoute('mock', 'big')) as GatewayError; // 3 tokens, only 1 left
    assert.ok(e instanceof GatewayError);
    assert.equal(e.code, 'ERR_RATE_LIMITED');
    assert.equal(e.toRpcError().code, -31203);
    assert.equal(e.data?.rule, 't');
    assert.ok(typeof e.data?.retryAfterMs === 'number' && e.data.retryAfterMs > 0 && e.data.retryAfterMs <= 12_000);
    assert.equal(call(ctx({ tenant: 'other' }), toolRoute('mock', 'echo')), undefined, 'another tenant has its own bucket');
    assert.equal(call(ctx({ method: 'tools/list' }), local), undefined, 'lists are not counted by default');
    assert.equal(call(ctx(), toolRoute('mock', 'echo')), undefined);
    rl = rules(['  rules: [{ name: q, by: [tenant], quota: 4/1d }]', costs].join('\n'));
    assert.equal(call(ctx(), toolRoute('mock', 'big')), undefined);
    assert.equal(call(ctx(), toolRoute('mock', 'echo')), undefined);
    const q2 = call(ctx(), toolRoute('mock', 'echo')) as GatewayError;
    assert.equal(q2.code, 'ERR_QUOTA_EXCEEDED');
    assert.equal(q2.toRpcError().code, -31205);
  } finally {
    await limiter.close();
  }
});

test('buckets survive a reload that keeps the rule, and reset when the rule changes', async () => {
  const limiter = createLimiter(silentLogger);
  try {
    const before = rules('  rules: [{ name: t, rate: 1/1h }]');
    const same = rules('  costs: { "x": 2 }\n  rules: [{ name: other, rate: 5/s }, { name: t, rate: 1/1h }]');
    const changed = rules('  rules: [{ name: t, rate: 2/1h }]');
    limiter.check(before, ctx(), toolRoute('mock', 'echo'));
    assert.throws(() => limiter.check(same, ctx(), toolRoute('mock', 'echo')), (e: unknown) => e instanceof GatewayError && e.code === 'ERR_RATE_LIMITED');
    limiter.check(changed, ctx(), toolRoute('mock', 'echo'));
  } finally {
    await limiter.close();
  }
});

test('HTTP mapping: 429 for limits and quotas, 503 for overload; Retry-After rounds up to whole seconds', () => {
  assert.equal(limitStatus({ error: { code: -31203, message: '' } }), 429);
  assert.equal(limitStatus({ error: { code: -31205, message: '' } }), 429);
  assert.equal(limitStatus({ error: { code: -31204, message: '' } }), 503);
  assert.equal(limitStatus({ error: { code: -31201, message: '' } }), undefined);
  assert.equal(limitStatus({ result: {} }), undefined);
  assert.equal(retryAfter({ jsonrpc: '2.0', id: 1, error: { code: -31203, message: '', data: { retryAfterMs: 1 } } }), '1');
  assert.equal(retryAfter({ jsonrpc: '2.0', id: 1, error: { code: -31203, message: '', data: { retryAfterMs: 1001 } } }), '2');
  assert.equal(retryAfter({ jsonrpc: '2.0', id: 1, error: { code: -31203, message: '' } }), undefined);
  assert.equal(retryAfter({ jsonrpc: '2.0', id: 1, result: {} }), undefined);
});

test('a tool renamed by a virtual server is limited, keyed and weighed by its catalogue name too', async () => {
  const rl = rules(`  rules: [{ name: push, match: { tools: [git__push] }, by: [principal, tool], rate: 2/h }]
  costs: { 'git__push': 3 }`);
  // As view.ts curates a rename that applied: exposed `push`, catalogue name `git__push`.
  const renamed: Route = { kind: 'upstream', upstream: 'git', method: 'tools/call', params: {}, target: { upstream: 'git', original: 'push', exposed: 'push', catalogName: 'git__push', def: {} } as never };
  const [rule] = rl.rules;
  assert.ok(matches(rule!, 'tools/call', ctx({ server: 'team' }), 'git', 'push', 'git__push'), 'the catalogue name matches');
  assert.ok(!matches(rule!, 'tools/call', ctx({ server: 'team' }), 'git', 'push'), 'the exposed name alone does not');
  assert.equal(rl.cost('push', 'git__push'), 3);
  assert.equal(rl.cost('push'), 1);
  const limiter = createLimiter(silentLogger, rl);
  try {
    // Cost 3 against a bucket of 2: the first call is let through into debt, the second is refused,
    // whichever endpoint it comes through.
    limiter.check(rl, ctx(), toolRoute('git', 'push'));
    assert.throws(() => limiter.check(rl, ctx({ server: 'team' }), renamed), (e: unknown) => e instanceof GatewayError && e.code === 'ERR_RATE_LIMITED');
  } finally {
    await limiter.close();
  }
});
