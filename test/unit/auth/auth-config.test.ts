import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfigText } from '../../../src/config/load.js';
import { ConfigError } from '../../../src/config/compile.js';

const load = (yaml: string) => loadConfigText(yaml, { path: '/etc/portcullis/gw.yaml', env: {} });

function issuesOf(yaml: string): string[] {
  try {
    load(yaml);
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map((i) => `${i.path}: ${i.message}`);
    throw e;
  }
  return [];
}

test('no auth section: open, and only on loopback', () => {
  assert.equal(load('gateway: { host: 127.0.0.1 }').auth.mode, 'open');
  assert.equal(load('gateway: { host: "::1" }').auth.mode, 'open');
  const refused = issuesOf('gateway: { host: 0.0.0.0 }');
  assert.equal(refused.length, 1);
  assert.match(refused[0]!, /^gateway\.host: listening on 0\.0\.0\.0 without authentication is refused/);
});

test('auth: none is the explicit way to run open on the network', () => {
  const s = load('gateway: { host: 0.0.0.0 }\nauth: none');
  assert.equal(s.auth.mode, 'none');
});

test('auth object: required mode with the default scope; non-loopback needs publicUrl', () => {
  const s = load('auth: {}');
  assert.equal(s.auth.mode, 'required');
  assert.deepEqual(s.auth.scopes.map((x) => x.name), ['mcp:tools']);
  assert.equal(s.auth.scopes[0]!.servers, undefined);
  assert.deepEqual(issuesOf('gateway: { host: 0.0.0.0 }\nauth: {}').map((i) => i.split(':')[0]), ['gateway.publicUrl']);
  assert.equal(load('gateway: { host: 0.0.0.0, publicUrl: "https://gw.example" }\nauth: {}').auth.mode, 'required');
});

test('scopes: duplicates and OIDC names are refused; servers compile to a set', () => {
  assert.deepEqual(issuesOf('auth: { scopes: [{ name: a }, { name: a }] }'), ['auth.scopes[1].name: duplicate scope "a"']);
  assert.equal(issuesOf('auth: { scopes: [{ name: openid }] }').length, 1);
  const s = load('auth: { scopes: [{ name: "team:read", servers: [team], tools: ["team__get_*"] }] }');
  const scope = s.auth.scopes[0]!;
  assert.ok(scope.servers?.has('team'));
  assert.equal(scope.tools?.('team__get_issue'), true);
  assert.equal(scope.tools?.('team__delete_issue'), false);
});

test('a config with no way in is refused', () => {
  const issues = issuesOf('auth: { apiKeys: { enabled: false } }');
  assert.equal(issues.length, 1);
  assert.match(issues[0]!, /no way to authenticate/);
});

test('upstream OAuth for each user and token exchange need per-principal links', () => {
  const up = (extra: string) => `upstreams:\n  - { name: u, kind: streamable-http, url: "https://u.example/mcp", ${extra} }`;
  assert.deepEqual(issuesOf(up('auth: { type: oauth, identity: user }')), ['upstreams[0].sharing: auth.identity: user needs sharing: per-principal']);
  assert.deepEqual(issuesOf(up('sharing: per-principal, auth: { type: oauth, identity: user }')), []);
  assert.deepEqual(issuesOf(up('auth: { type: oauth }')), []);
  const te = 'auth: { type: token-exchange, tokenUrl: "https://idp.example/token", clientId: gw, clientSecret: { env: X } }';
  assert.deepEqual(issuesOf(up(te)), ['upstreams[0].sharing: auth.type: token-exchange needs sharing: per-principal']);
  assert.deepEqual(issuesOf(up(`sharing: per-principal, ${te}`)), []);
});

test('several introspecting issuers need token prefixes, and the prefixes may not overlap', () => {
  const intro = (name: string, extra = '') =>
    `{ name: ${name}, issuer: "https://${name}.example", introspection: { url: "https://${name}.example/introspect", clientId: gw, clientSecret: { env: S }${extra} } }`;
  const issuers = (...list: string[]) => `auth: { issuers: [${list.join(', ')}] }`;
  assert.deepEqual(issuesOf(issuers(intro('partner'), intro('corp'))), [
    'auth.issuers: several issuers introspect opaque tokens: [0].introspection ("partner"), [1].introspection ("corp"): give each but one an introspection.tokenPrefix, so a token is only ever sent to its own issuer',
  ]);
  assert.deepEqual(issuesOf(issuers(intro('partner', ', tokenPrefix: p_at_'), intro('corp'))), []);
  assert.deepEqual(issuesOf(issuers(intro('partner', ', tokenPrefix: p_at_'), intro('corp', ', tokenPrefix: c_at_'))), []);
  const overlap = issuesOf(issuers(intro('partner', ', tokenPrefix: ory_'), intro('corp', ', tokenPrefix: ory_at_')));
  assert.equal(overlap.length, 1);
  assert.match(overlap[0]!, /^auth\.issuers\[1\]\.introspection\.tokenPrefix: tokenPrefix "ory_at_" and \[0\]\.introspection\.tokenPrefix "ory_" \(issuer "partner"\) overlap/);
  assert.equal(issuesOf(issuers(intro('partner', ', tokenPrefix: "has space"'))).length, 1, 'no spaces');
  assert.equal(issuesOf(issuers(intro('partner', `, tokenPrefix: ${'x'.repeat(65)}`))).length, 1, 'at most 64');
  // one introspecting issuer next to JWKS issuers: unchanged, no prefix needed
  assert.deepEqual(issuesOf(issuers(intro('corp'), '{ name: okta, issuer: "https://okta.example", jwksUri: "https://okta.example/keys" }')), []);
});
