/** `portcullis policy explain` end to end: the CLI runs as a child process from source; exit codes are its interface. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';


const cli = runCli;

let dir = '';
let config = '';
const DEV = '{"subject":"alice","tenant":"acme","roles":["dev"]}';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'portcullis-policy-cli-'));
  config = join(dir, 'portcullis.yaml');
  writeFileSync(
    config,
    [
      'gateway: { storage: memory }',
      'upstreams:',
      '  - { name: git, kind: stdio, command: /bin/true, tags: [prod] }',
      'virtualServers:',
      '  - { name: team, include: [{ upstream: git }], rename: { git__status: st } }',
      'policy:',
      '  rules:',
      `    - { id: dev-git, effect: allow, roles: [dev], tools: ["git__*"], when: "args.path.startsWith('/srv/public/')", guards: { noDotDot: true } }`,
      '    - { id: no-push, effect: deny, tools: ["git__push"], reason: "no pushing" }',
      '    - { id: team-st, effect: allow, servers: [team], tools: ["st"] }',
      '    - { id: watch, effect: require_approval, mode: shadow, tags: [prod] }',
    ].join('\n'),
  );
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('portcullis policy explain', () => {
  it('allowed: exit 0, text names the deciding rule, the condition result and the shadow rule', async () => {
    const r = await cli(['policy', 'explain', '--config', config, '--principal', DEV, '--tool', 'git__status', '--args', '{"path":"/srv/public/a"}']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^decision: allow$/m);
    assert.match(r.stdout, /^rule: dev-git$/m);
    assert.match(r.stdout, /dev-git {2}allow {2}enforce {2}config {2}when=true/);
    assert.match(r.stdout, /watch {2}require_approval {2}shadow/);
  });

  it('denied: exit 3; --json gives the decision, rule, reason and every rule that matched', async () => {
    const r = await cli(['policy', 'explain', '--config', config, '--principal', DEV, '--tool', 'git__push', '--json']);
    assert.equal(r.code, 3, r.stderr);
    const j = JSON.parse(r.stdout) as { decision: string; rule: string; reason: string; upstream: string; rules: { rule: string; when?: string }[]; shadow: { rule: string }[] };
    assert.equal(j.decision, 'deny');
    assert.equal(j.rule, 'no-push');
    assert.equal(j.reason, 'no pushing');
    assert.equal(j.upstream, 'git');
    // No args: the allow rule's condition errors, so it does not match (fail closed).
    assert.deepEqual(j.rules.map((x) => `${x.rule}:${x.when ?? '-'}`), ['dev-git:error', 'no-push:-', 'watch:-']);
    assert.deepEqual(j.shadow.map((s) => s.rule), ['watch']);
  });

  it('default deny for a principal no rule covers; a virtual server rename is matched by its exposed name', async () => {
    const r = await cli(['policy', 'explain', '--config', config, '--principal', '{"subject":"bob","tenant":"acme"}', '--tool', 'git__status', '--json']);
    assert.equal(r.code, 3);
    assert.equal((JSON.parse(r.stdout) as { rule: string | null }).rule, null);
    const t = await cli(['policy', 'explain', '--config', config, '--principal', '{"subject":"bob"}', '--tool', 'git__status', '--server', 'team', '--json']);
    assert.equal(t.code, 0, t.stdout + t.stderr);
    assert.equal((JSON.parse(t.stdout) as { rule: string }).rule, 'team-st');
  });

  it('usage errors exit 2: missing option, bad principal JSON, unknown server, bad config', async () => {
    assert.equal((await cli(['policy', 'explain', '--config', config, '--tool', 'git__push'])).code, 2);
    assert.equal((await cli(['policy', 'explain', '--config', config, '--principal', '{', '--tool', 'x'])).code, 2);
    assert.equal((await cli(['policy', 'explain', '--config', config, '--principal', '{"tenant":"a"}', '--tool', 'x'])).code, 2);
    assert.equal((await cli(['policy', 'explain', '--config', config, '--principal', DEV, '--tool', 'x', '--server', 'nope'])).code, 2);
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'gateway: { storage: memory }\nupstreams: []\npolicy:\n  rules:\n    - { id: a, effect: deny, when: "args.x +" }\n');
    const r = await cli(['policy', 'explain', '--config', bad, '--principal', DEV, '--tool', 'x']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /policy\.rules\[0\]\.when/);
  });
});
