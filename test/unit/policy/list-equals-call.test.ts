/**
 * Security-checklist B2 (list equals call), as a property over the real stages: for random
 * principals, rule sets and tool sets, `tools/list` (answerLocally) shows exactly the tools that
 * `tools/call` (route + authorize) does not refuse with ERR_POLICY_DENIED. Tools that need approval
 * are listed (they are usable once approved). Conditions here do not read `args`; the listing rule
 * for those is pinned by engine.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { answerLocally } from '../../../src/pipeline/local/answer.js';
import { authorize } from '../../../src/stages/authorize/authorize.js';
import { route } from '../../../src/stages/route/route.js';
import { GatewayError } from '../../../src/pipeline/errors.js';
import { callContext, entry, principal, snapshotOf, view } from './fixtures.js';

const UPSTREAMS = ['u1', 'u2', 'u3'];
const NAMES = ['read', 'write', 'list', 'del', 'x1'];
const sub = <T>(xs: readonly T[]) => fc.subarray([...xs], { minLength: 1 });
const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined, freq: 2 });

// Conditions over principal and tool only, including ones that fail to evaluate (fail-closed path).
const WHEN = ["principal.tenant == 't1'", "'dev' in principal.roles", "tool.name.startsWith('u1')", 'size(tool.tags) > 0', 'principal.nope == 1', "tool.upstream != 'u2'", 'true', 'false'];

const ruleArb = fc
  .record({
    effect: fc.constantFrom('allow', 'allow', 'deny', 'require_approval'),
    mode: fc.constantFrom('enforce', 'enforce', 'enforce', 'shadow'),
    tenants: opt(sub(['t1', 't2'])),
    roles: opt(sub(['dev', 'ops', 'admin'])),
    groups: opt(sub(['eng', 'sales'])),
    subjects: opt(sub(['a*', '*o*', 'bob'])),
    clients: opt(sub(['c1', 'c2'])),
    servers: opt(sub(['default', 'team'])),
    upstreams: opt(sub(UPSTREAMS)),
    tools: opt(sub(['u1__*', '*read', '*__del', 'u?__list', '*'])),
    tags: opt(sub(['prod', 'pii'])),
    destructive: opt(fc.boolean()),
    when: opt(fc.constantFrom(...WHEN)),
  })
  .map(({ destructive, ...r }) => {
    const out: Record<string, unknown> = Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined));
    // Annotations may only tighten (allow rules cannot use them).
    if (destructive !== undefined && r.effect !== 'allow') out.annotations = { destructiveHint: destructive };
    return out;
  });

const worldArb = fc.record({
  tags: fc.tuple(...UPSTREAMS.map(() => fc.subarray(['prod', 'pii', 'dev']))),
  tools: fc.uniqueArray(fc.record({ upstream: fc.constantFrom(...UPSTREAMS), name: fc.constantFrom(...NAMES), destructive: opt(fc.boolean()) }), {
    selector: (t) => `${t.upstream}/${t.name}`,
    maxLength: 12,
  }),
  rules: fc.array(ruleArb, { maxLength: 8 }),
  principal: fc.record({
    tenant: fc.constantFrom('t1', 't2', 't3'),
    roles: fc.subarray(['dev', 'ops', 'admin']),
    groups: fc.subarray(['eng', 'sales']),
    subject: fc.constantFrom('alice', 'bob', 'carol'),
    clientId: opt(fc.constantFrom('c1', 'c2')),
  }),
  server: fc.constantFrom('default', 'team'),
});

describe('tools/list equals tools/call (security-checklist B2)', () => {
  it('holds for random principals, rules and tool sets, enforced and shadow rules alike', async () => {
    await fc.assert(
      fc.asyncProperty(worldArb, async (w) => {
        const snapshot = snapshotOf(
          w.rules.map((r, i) => ({ id: `r${i}`, ...r })),
          UPSTREAMS.map((name, i) => ({ name, tags: w.tags[i]! })),
        );
        const tools = w.tools.map((t) => entry({ upstream: t.upstream, name: t.name, ...(t.destructive !== undefined ? { annotations: { destructiveHint: t.destructive } } : {}) }));
        const v = view(w.server, tools);
        const { clientId, ...rest } = w.principal;
        const p = principal({ ...rest, ...(clientId ? { clientId } : {}) });

        const listed = await answerLocally(callContext(snapshot, v, p, 'tools/list'), 'tools/list');
        assert.ok('result' in listed);
        const shown = new Set((listed.result.tools as { name: string }[]).map((t) => t.name));

        const callable = new Set<string>();
        for (const t of tools) {
          const ctx = callContext(snapshot, v, p, 'tools/call', { name: t.exposed, arguments: {} });
          try {
            authorize(ctx, route(ctx));
            assert.equal(ctx.decision?.effect, 'allow');
            callable.add(t.exposed);
          } catch (e) {
            assert.ok(e instanceof GatewayError, String(e));
            if (e.code === 'ERR_APPROVAL_REQUIRED') callable.add(t.exposed);
            else assert.equal(e.code, 'ERR_POLICY_DENIED');
            // Error data names at most the deciding rule, never a condition.
            assert.deepEqual(Object.keys(e.data ?? {}).filter((k) => k !== 'rule' && k !== 'reason'), []);
          }
        }
        assert.deepEqual([...shown].sort(), [...callable].sort());
      }),
      { numRuns: 400 },
    );
  });

  it('without a policy section every tool is listed and callable (no policy stage)', async () => {
    const snapshot = snapshotOf(undefined, [{ name: 'u1', tags: [] }]);
    const tools = [entry({ upstream: 'u1', name: 'read' })];
    const v = view('default', tools);
    const listed = await answerLocally(callContext(snapshot, v, principal(), 'tools/list'), 'tools/list');
    assert.ok('result' in listed);
    assert.equal((listed.result.tools as unknown[]).length, 1);
    const ctx = callContext(snapshot, v, principal(), 'tools/call', { name: 'u1__read' });
    authorize(ctx, route(ctx));
    assert.equal(ctx.decision, undefined);
  });
});
