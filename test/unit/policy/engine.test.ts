/** The policy evaluator: matching, precedence, fail-closed CEL, shadow mode, listing rule (security-checklist B1, E6). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PolicyEngine } from '../../../src/policy/engine.js';
import { compilePolicy, compileWhen, mentionsArgs } from '../../../src/policy/compile.js';
import { PolicyConfig, MAX_WHEN_LENGTH } from '../../../src/policy/config.js';
import { entry, principal, snapshotOf, view } from './fixtures.js';
import { Catalog, type UpstreamPart } from '../../../src/catalog/catalog.js';
import { viewOf } from '../../../src/catalog/view.js';

const UPSTREAMS = [
  { name: 'git', tags: ['prod', 'scm'] },
  { name: 'mail', tags: [] },
];
const status = entry({ upstream: 'git', name: 'status' });
const push = entry({ upstream: 'git', name: 'push', annotations: { destructiveHint: true, readOnlyHint: true } });
const send = entry({ upstream: 'mail', name: 'send' });
const V = view('default', [status, push, send]);

function engine(rules: unknown[], renames: Record<string, Record<string, string>> = {}): PolicyEngine {
  const s = snapshotOf(rules, UPSTREAMS, renames);
  return new PolicyEngine(s.policy.rules, s);
}

describe('policy engine: default deny and precedence (B1)', () => {
  it('denies when no rule matches, naming no rule', () => {
    const d = engine([{ id: 'x', effect: 'allow', tools: ['nothing*'] }]).decideEntry('tool', V, status, principal(), {});
    assert.equal(d.effect, 'deny');
    assert.equal(d.rule, undefined);
    assert.ok(d.reason);
  });

  it('deny beats require_approval beats allow, whatever the order', () => {
    const rules = [
      { id: 'a', effect: 'allow' },
      { id: 'r', effect: 'require_approval', tools: ['git__*'], reason: 'needs a human' },
      { id: 'd', effect: 'deny', tools: ['git__push'], reason: 'never' },
    ];
    const e = engine(rules);
    assert.deepEqual([e.decideEntry('tool', V, push, principal(), {}).rule, e.decideEntry('tool', V, status, principal(), {}).rule, e.decideEntry('tool', V, send, principal(), {}).rule], ['d', 'r', 'a']);
    assert.equal(e.decideEntry('tool', V, status, principal(), {}).reason, 'needs a human');
    const rev = engine([...rules].reverse());
    assert.equal(rev.decideEntry('tool', V, push, principal(), {}).effect, 'deny');
  });

  it('collects the guards of every matching allow rule', () => {
    const e = engine([
      { id: 'a1', effect: 'allow', guards: { noDotDot: true } },
      { id: 'a2', effect: 'allow', tools: ['git__*'], guards: { noLeadingDash: true } },
      { id: 'a3', effect: 'allow', tools: ['mail__*'], guards: { noControlChars: true } },
    ]);
    const d = e.decideEntry('tool', V, status, principal(), {});
    assert.equal(d.effect, 'allow');
    assert.equal(d.rule, 'a1');
    assert.deepEqual(d.guards.map((g) => Object.keys(g.config).filter((k) => (g.config as Record<string, unknown>)[k] === true)), [['noDotDot'], ['noLeadingDash']]);
  });
});

describe('policy engine: principal matching', () => {
  const cases: [string, Record<string, unknown>, Record<string, unknown>, boolean][] = [
    ['tenant in list', { tenants: ['acme'] }, {}, true],
    ['tenant not in list', { tenants: ['globex'] }, {}, false],
    ['any of roles', { roles: ['ops', 'dev'] }, { roles: ['dev'] }, true],
    ['no role', { roles: ['ops'] }, { roles: ['dev'] }, false],
    ['any of groups', { groups: ['eng'] }, { groups: ['x', 'eng'] }, true],
    ['missing group', { groups: ['eng'] }, { groups: [] }, false],
    ['subject glob', { subjects: ['ali*'] }, {}, true],
    ['subject glob miss', { subjects: ['bob*'] }, {}, false],
    ['client id', { clients: ['cli-1'] }, { clientId: 'cli-1' }, true],
    ['client id absent', { clients: ['cli-1'] }, {}, false],
    ['every given field must match', { tenants: ['acme'], roles: ['ops'] }, { roles: ['dev'] }, false],
    ['claim equals', { claims: { dept: 'eng' } }, { claims: { dept: 'eng' } }, true],
    ['claim is one of a list', { claims: { dept: ['ops', 'eng'] } }, { claims: { dept: 'eng' } }, true],
    ['list claim contains the value', { claims: { teams: 'red' } }, { claims: { teams: ['blue', 'red'] } }, true],
    ['claim differs', { claims: { dept: 'eng' } }, { claims: { dept: 'sales' } }, false],
    ['number and boolean claims', { claims: { level: 3, mfa: true } }, { claims: { level: 3, mfa: true } }, true],
    ['boolean claim differs', { claims: { mfa: true } }, { claims: { mfa: false } }, false],
    ['claim missing', { claims: { dept: 'eng' } }, { claims: {} }, false],
    ['no claims at all (API key)', { claims: { dept: 'eng' } }, {}, false],
  ];
  for (const [name, rule, p, allowed] of cases) {
    it(name, () => {
      const d = engine([{ id: 'r', effect: 'allow', ...rule }]).decideEntry('tool', V, status, principal(p), {});
      assert.equal(d.effect, allowed ? 'allow' : 'deny');
    });
  }
});

describe('policy engine: target matching', () => {
  it('matches servers, upstreams, tool globs, tags (all of)', () => {
    const e = engine([
      { id: 'srv', effect: 'allow', servers: ['team'] },
      { id: 'up', effect: 'allow', upstreams: ['mail'] },
      { id: 'tags', effect: 'allow', tags: ['prod', 'scm'], tools: ['*status'] },
      { id: 'tags-miss', effect: 'allow', tags: ['prod', 'other'] },
    ]);
    assert.equal(e.decideEntry('tool', V, send, principal(), {}).rule, 'up');
    assert.equal(e.decideEntry('tool', V, status, principal(), {}).rule, 'tags');
    assert.equal(e.decideEntry('tool', V, push, principal(), {}).effect, 'deny');
    assert.equal(e.decideEntry('tool', view('team', [push]), push, principal(), {}).rule, 'srv');
  });

  it('tool globs see both the catalogue name and a virtual server rename', () => {
    // As view.ts curates it: a rename that applied carries the catalogue name.
    const renamed = { ...status, exposed: 'st', def: { ...status.def, name: 'st' }, catalogName: 'git__status' };
    const team = view('team', [renamed]);
    const e = engine([{ id: 'by-catalog', effect: 'allow', tools: ['git__status'] }], { team: { git__status: 'st' } });
    assert.equal(e.decideEntry('tool', team, renamed, principal(), {}).effect, 'allow');
    const e2 = engine([{ id: 'by-exposed', effect: 'allow', tools: ['st'] }], { team: { git__status: 'st' } });
    assert.equal(e2.decideEntry('tool', team, renamed, principal(), {}).effect, 'allow');
  });

  it('a rename skipped because its target name is taken gives the tool holding that name no catalogue name of the renamed one', () => {
    // git__push → pushit is configured, but upstream `other` (empty prefix) already exposes `pushit`.
    const lists = (names: string[]) => ({ tools: names.map((n) => ({ name: n, inputSchema: { type: 'object' } })), prompts: [], resources: [], templates: [] });
    const part = (name: string, prefix: string, tools: string[]): UpstreamPart => ({ name, prefix, tags: [], tenant: 'default', shareWith: new Set(), lists: lists(tools), capabilities: { tools: {} } });
    const cat = Catalog.build(1, [part('git', 'git', ['push']), part('other', '', ['pushit'])], '__');
    const s = snapshotOf([{ id: 'team-may-push', effect: 'allow', servers: ['team'], tools: ['git__push'] }], [{ name: 'git', tags: [] }, { name: 'other', tags: [] }], { team: { git__push: 'pushit' } });
    const vs = s.virtualServers.find((v) => v.name === 'team');
    assert.ok(vs);
    const team = viewOf(cat, { ...vs, include: [{}] } as never, 'default');
    const e = new PolicyEngine(s.policy.rules, s);
    const verdicts = Object.fromEntries(team.tools.map((t) => [`${t.upstream}:${t.exposed}`, e.decideEntry('tool', team, t, principal(), {}).effect]));
    assert.deepEqual(verdicts, { 'git:git__push': 'allow', 'other:pushit': 'deny' });
  });

  it('annotations only tighten: a deny on destructiveHint wins over an allow, and allow rules may not use them (E6)', () => {
    const e = engine([
      { id: 'all', effect: 'allow' },
      { id: 'destructive', effect: 'require_approval', annotations: { destructiveHint: true } },
    ]);
    // push also claims readOnlyHint: true, which changes nothing.
    assert.equal(e.decideEntry('tool', V, push, principal(), {}).effect, 'require_approval');
    assert.equal(e.decideEntry('tool', V, status, principal(), {}).effect, 'allow');
    const r = PolicyConfig.safeParse({ rules: [{ id: 'x', effect: 'allow', annotations: { readOnlyHint: true } }] });
    assert.equal(r.success, false);
  });

  it('a rule naming prompts or resources only does not apply to tools; prompts and resources are default deny too', () => {
    const prompt = entry({ upstream: 'mail', name: 'greet' });
    const e = engine([
      { id: 'p', effect: 'allow', prompts: ['mail__*'] },
      { id: 'r', effect: 'allow', resources: ['file:///srv/*'] },
    ]);
    assert.equal(e.decideEntry('tool', V, send, principal(), {}).effect, 'deny');
    assert.equal(e.decideEntry('prompt', view('default', [], [prompt]), prompt, principal(), {}).rule, 'p');
    assert.equal(e.decideResource('default', 'git', 'file:///srv/a.txt', principal(), {}).rule, 'r');
    assert.equal(e.decideResource('default', 'git', 'file:///etc/passwd', principal(), {}).effect, 'deny');
  });
});

describe('policy engine: CEL conditions', () => {
  it('reads args, principal, tool and time', () => {
    const e = engine([
      { id: 'pub', effect: 'allow', tools: ['git__*'], when: "args.path.startsWith('/srv/public/') && principal.tenant == 'acme' && tool.upstream == 'git' && 'prod' in tool.tags && time > timestamp('2020-01-01T00:00:00Z')" },
      { id: 'few', effect: 'allow', tools: ['mail__send'], when: 'size(args.recipients) <= 5' },
    ]);
    assert.equal(e.decideEntry('tool', V, status, principal(), { path: '/srv/public/a' }).effect, 'allow');
    assert.equal(e.decideEntry('tool', V, status, principal(), { path: '/srv/private/a' }).effect, 'deny');
    assert.equal(e.decideEntry('tool', V, send, principal(), { recipients: ['a', 'b'] }).effect, 'allow');
    assert.equal(e.decideEntry('tool', V, send, principal(), { recipients: ['a', 'b', 'c', 'd', 'e', 'f'] }).effect, 'deny');
  });

  it('fails closed: an evaluation error never makes an allow match and always makes a deny or require_approval match', () => {
    const e = engine([
      { id: 'a', effect: 'allow', when: "args.path.startsWith('/ok')" },
      { id: 'base', effect: 'allow', tools: ['mail__*'] },
      { id: 'd', effect: 'deny', tools: ['mail__*'], when: 'args.count > 3' },
    ]);
    assert.equal(e.decideEntry('tool', V, status, principal(), {}).effect, 'deny', 'missing field: the allow does not match');
    assert.equal(e.decideEntry('tool', V, send, principal(), {}).rule, 'd', 'missing field: the deny matches');
    assert.equal(e.decideEntry('tool', V, send, principal(), { count: 1 }).rule, 'base');
  });

  it('lists a tool when an args-reading allow rule could match, and never hides one for an args-reading deny', () => {
    const e = engine([
      { id: 'a', effect: 'allow', tools: ['git__status'], when: "args.path.startsWith('/ok')" },
      { id: 'all-mail', effect: 'allow', tools: ['mail__*'] },
      { id: 'd', effect: 'deny', tools: ['mail__*'], when: 'args.count > 3' },
      { id: 'np', effect: 'allow', tools: ['git__push'], when: "principal.tenant == 'other'" },
    ]);
    assert.equal(e.listsEntry('tool', V, status, principal()), true);
    assert.equal(e.listsEntry('tool', V, send, principal()), true);
    assert.equal(e.listsEntry('tool', V, push, principal()), false, 'a non-args condition is evaluated when listing');
  });

  it('compile rejects syntax errors, non-boolean results and over-long expressions', () => {
    assert.equal(typeof compileWhen('args.x +'), 'string');
    assert.match(String(compileWhen('1 + 2')), /boolean/);
    assert.equal(typeof compileWhen('undeclared.x == 1'), 'string');
    assert.equal(PolicyConfig.safeParse({ rules: [{ id: 'x', effect: 'deny', when: `true${' && true'.repeat(MAX_WHEN_LENGTH)}` }] }).success, false);
    const issues: string[] = [];
    compilePolicy({ rules: [{ id: 'a', effect: 'allow', mode: 'enforce' }, { id: 'a', effect: 'deny', mode: 'enforce', when: '"x"' }] }, (p, m) => issues.push(`${p.join('.')}: ${m}`));
    assert.deepEqual(issues.map((i) => i.split(':')[0]), ['policy.rules.1.id', 'policy.rules.1.when']);
  });

  it('mentionsArgs sees identifiers, not strings or fields', () => {
    assert.equal(mentionsArgs('args.x == 1'), true);
    assert.equal(mentionsArgs("has(args.x) || principal.tenant == 'a'"), true);
    assert.equal(mentionsArgs("principal.subject == 'args'"), false);
    assert.equal(mentionsArgs('tool.args == 1'), false);
    assert.equal(mentionsArgs('"a\\"args" == tool.name'), false);
  });
});

describe('policy engine: shadow mode', () => {
  it('shadow rules are evaluated and reported, never enforced, and never change lists', () => {
    const e = engine([
      { id: 'allow-all', effect: 'allow' },
      { id: 'would-deny', effect: 'deny', mode: 'shadow', tools: ['git__push'] },
      { id: 'would-allow', effect: 'allow', mode: 'shadow', tools: ['mail__*'], tenants: ['other'] },
    ]);
    const d = e.decideEntry('tool', V, push, principal(), {});
    assert.equal(d.effect, 'allow');
    assert.deepEqual(d.shadow, [{ rule: 'would-deny', effect: 'deny' }]);
    assert.equal(e.listsEntry('tool', V, push, principal()), true);
    const only = engine([{ id: 's', effect: 'allow', mode: 'shadow' }]);
    const d2 = only.decideEntry('tool', V, status, principal(), {});
    assert.equal(d2.effect, 'deny');
    assert.deepEqual(d2.shadow, [{ rule: 's', effect: 'allow' }]);
    assert.equal(only.listsEntry('tool', V, status, principal()), false);
  });
});

describe('policy engine: claims in CEL', () => {
  it('principal.claims is readable in a condition, and empty for a principal without claims', () => {
    const e = engine([{ id: 'mfa', effect: 'allow', when: 'has(principal.claims.amr) && "mfa" in principal.claims.amr' }]);
    assert.equal(e.decideEntry('tool', V, status, principal({ claims: { amr: ['pwd', 'mfa'] } }), {}).effect, 'allow');
    assert.equal(e.decideEntry('tool', V, status, principal({ claims: { amr: ['pwd'] } }), {}).effect, 'deny');
    assert.equal(e.decideEntry('tool', V, status, principal(), {}).effect, 'deny');
  });
});
