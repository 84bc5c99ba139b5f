/**
 * Policy at the wire (security-checklist B1 default deny, B2 list equals call, B3 per-request
 * decisions, E6 annotations never relax): a real gateway with token auth, the HTTP mock upstream
 * and an annotated stdio upstream, SDK clients, hot reload with an open legacy session, and the
 * admin API for stored rules (own tenant only, cross-tenant 404).
 */
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type CryptoKey } from 'jose';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { startMockHttp, type MockHttp } from '../fixtures/mock-upstream/http-server.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { legacyClient, modernClient, until } from './helpers-wire.js';

// A tiny stdio MCP server whose tools carry annotations (hints the gateway must never trust to relax a rule).
const ANNOTATED = `
const tools=[{name:'safe',inputSchema:{type:'object'},annotations:{readOnlyHint:true}},{name:'wipe',inputSchema:{type:'object'},annotations:{destructiveHint:true,readOnlyHint:true}},{name:'ship',inputSchema:{type:'object'}}];
let buf='';process.stdin.setEncoding('utf8');
process.stdin.on('data',(d)=>{buf+=d;let i;while((i=buf.indexOf('\\n'))>=0){const line=buf.slice(0,i);buf=buf.slice(i+1);if(!line.trim())continue;const m=JSON.parse(line);if(m.id===undefined)continue;
let result;if(m.method==='initialize')result={protocolVersion:m.params.protocolVersion,capabilities:{tools:{}},serverInfo:{name:'ann',version:'1'}};
else if(m.method==='tools/list')result={tools};else if(m.method==='tools/call')result={content:[{type:'text',text:'ran '+m.params.name}]};else if(m.method==='ping')result={};
else{process.stdout.write(JSON.stringify({jsonrpc:'2.0',id:m.id,error:{code:-32601,message:'not found'}})+'\\n');continue;}
process.stdout.write(JSON.stringify({jsonrpc:'2.0',id:m.id,result})+'\\n');}});`;

let jwksServer: Server;
let issuer = '';
let rsa: { privateKey: CryptoKey; publicKey: CryptoKey };
let mock: MockHttp;
let gw: TestGateway;
const logLines: string[] = [];

const RULES = [
  '    - { id: dev-echo, effect: allow, roles: [dev], tools: ["mock__echo"] }',
  `    - { id: eng-region, effect: allow, groups: [eng], tools: ["mock__region_echo"], when: "args.region in ['eu', 'us']" }`,
  '    - { id: cli-nonce, effect: allow, clients: [cli-1], tools: ["mock__echo_nonce"] }',
  '    - { id: bob-fail, effect: allow, subjects: ["bob*"], tools: ["mock__fail"] }',
  '    - { id: globex-all, effect: allow, tenants: [globex], upstreams: [mock] }',
  '    - { id: ann-all, effect: allow, upstreams: [ann] }',
  '    - { id: destructive, effect: require_approval, annotations: { destructiveHint: true }, reason: "destructive tools need approval" }',
  '    - { id: prod-ship, effect: deny, tags: [prod], tools: ["*ship"], reason: "no shipping from prod" }',
  '    - { id: watch-echo, effect: deny, mode: shadow, tools: ["mock__echo"], reason: "would block echo" }',
];

function yaml(extraRules: string[] = []): string {
  return [
    'gateway: { storage: memory }',
    'log: { level: info }',
    'auth:',
    '  issuers:',
    `    - { name: ext, issuer: "${issuer}", jwksUri: "${issuer}/jwks", claims: { tenant: tenant, roles: roles, groups: groups } }`,
    'upstreams:',
    `  - { name: mock, kind: streamable-http, url: "${mock.url}", shareWith: ["*"] }`,
    `  - { name: ann, kind: stdio, command: ${JSON.stringify(process.execPath)}, args: ${JSON.stringify(['-e', ANNOTATED])}, tags: [prod], shareWith: ["*"] }`,
    'policy:',
    '  rules:',
    ...RULES,
    ...extraRules,
  ].join('\n');
}

interface Who {
  sub: string;
  tenant: string;
  roles?: string[];
  groups?: string[];
  client_id?: string;
}

async function token(w: Who): Promise<string> {
  return new SignJWT({ scope: 'mcp:tools', tenant: w.tenant, roles: w.roles ?? [], groups: w.groups ?? [], ...(w.client_id ? { client_id: w.client_id } : {}) })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1', typ: 'at+jwt' })
    .setIssuer(issuer)
    .setAudience(`${gw.url}/mcp`)
    .setSubject(w.sub)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(rsa.privateKey);
}

const ALICE: Who = { sub: 'alice', tenant: 'acme', roles: ['dev'], groups: ['eng'], client_id: 'cli-1' };
const BOB: Who = { sub: 'bob', tenant: 'acme' };
const GLOBEX: Who = { sub: 'gina', tenant: 'globex' };

async function client(w: Who, modern = false): Promise<Client> {
  const headers = { authorization: `Bearer ${await token(w)}` };
  return (modern ? modernClient(gw.mcp, { headers }) : legacyClient(gw.mcp, { headers })) as Promise<Client>;
}

/** 'ok', or the JSON-RPC error code and data of a refused call. */
async function call(c: Client, name: string, args: Record<string, unknown> = {}): Promise<'ok' | { code: number; data: Record<string, unknown> }> {
  try {
    await c.callTool({ name, arguments: args });
    return 'ok';
  } catch (e) {
    const err = e as { code?: number; data?: Record<string, unknown> };
    if (typeof err.code !== 'number') throw e;
    return { code: err.code, data: err.data ?? {} };
  }
}

const names = async (c: Client): Promise<string[]> => (await c.listTools()).tools.map((t) => t.name).sort();
const upstreamCalls = (): number => mock.record.messages.filter((m) => (m.msg as { method?: string }).method === 'tools/call').length;
const ARGS: Record<string, Record<string, unknown>> = { mock__echo: { text: 'hi' }, mock__echo_nonce: { nonce: 'n' }, mock__region_echo: { region: 'eu', text: 't' }, mock__fail: {} };

before(async () => {
  rsa = await generateKeyPair('RS256', { extractable: true });
  const keys: JWK[] = [{ ...(await exportJWK(rsa.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }];
  jwksServer = createServer((req, res) => (req.url === '/jwks' ? res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys })) : res.writeHead(404).end()));
  await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r));
  issuer = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}`;
  mock = await startMockHttp({ mode: 'legacy' });
  const logs = new PassThrough();
  logs.setEncoding('utf8').on('data', (d: string) => logLines.push(...d.split('\n').filter(Boolean)));
  gw = await startGateway(yaml(), process.env, { logTo: logs, logLevel: 'info' });
  await gw.waitHealthy(['mock', 'ann']);
});

after(async () => {
  await gw?.close();
  await mock?.close();
  await new Promise((r) => jwksServer?.close(r));
});

describe('policy matrix at the wire', () => {
  test('each principal lists exactly what it may use (B1 default deny, E6 annotations only tighten)', async () => {
    const expected: [Who, string[]][] = [
      // role, group, client id and subject rules; ann__wipe needs approval (listed), ann__ship is denied by tag.
      [ALICE, ['ann__safe', 'ann__wipe', 'mock__echo', 'mock__echo_nonce', 'mock__region_echo']],
      [BOB, ['ann__safe', 'ann__wipe', 'mock__fail']],
      // globex may use every mock tool.
      [GLOBEX, ['ann__safe', 'ann__wipe', ...gw.gateway.core.view('default', 'acme').tools.filter((t) => t.upstream === 'mock').map((t) => t.exposed)].sort()],
    ];
    for (const [who, want] of expected) {
      const c = await client(who);
      try {
        assert.deepEqual(await names(c), want, who.sub);
      } finally {
        await c.close();
      }
    }
  });

  test('calls: allow, default deny, deny with rule and reason, require_approval, CEL over args; refused calls never reach the upstream', async () => {
    const c = await client(ALICE);
    try {
      assert.equal(await call(c, 'mock__echo', { text: 'hi' }), 'ok', 'a shadow deny is not enforced');
      assert.equal(await call(c, 'mock__echo_nonce', { nonce: 'n' }), 'ok');
      assert.equal(await call(c, 'mock__region_echo', { region: 'eu', text: 'x' }), 'ok');
      const before = upstreamCalls();
      const outside = await call(c, 'mock__region_echo', { region: 'cn', text: 'x' });
      assert.deepEqual(outside, { code: -31201, data: { portcullis: 'ERR_POLICY_DENIED', reason: 'No policy rule allows this call' } });
      const missing = await call(c, 'mock__region_echo', { text: 'x' });
      assert.equal(typeof missing === 'object' && missing.code, -31201, 'evaluation error: the allow rule does not match');
      const dflt = await call(c, 'mock__fail');
      assert.equal(typeof dflt === 'object' && dflt.code, -31201);
      assert.equal(typeof dflt === 'object' && dflt.data.rule, undefined, 'default deny names no rule');
      assert.deepEqual(await call(c, 'ann__wipe'), { code: -31202, data: { portcullis: 'ERR_APPROVAL_REQUIRED', rule: 'destructive', reason: 'destructive tools need approval' } });
      assert.deepEqual(await call(c, 'ann__ship'), { code: -31201, data: { portcullis: 'ERR_POLICY_DENIED', rule: 'prod-ship', reason: 'no shipping from prod' } });
      assert.equal(await call(c, 'ann__safe'), 'ok');
      assert.equal(upstreamCalls(), before, 'no refused call was forwarded');
    } finally {
      await c.close();
    }
    const shadow = logLines.map((l) => JSON.parse(l) as { msg?: string; rule?: string; enforced?: string }).filter((l) => l.msg === 'policy.shadow');
    assert.ok(shadow.some((l) => l.rule === 'watch-echo' && l.enforced === 'allow'), 'the shadow rule is evaluated and logged');
    const refused = logLines.map((l) => JSON.parse(l) as { msg?: string; rule?: string; reason?: string }).filter((l) => l.msg === 'policy.refused');
    assert.ok(refused.some((l) => l.rule === 'prod-ship' && l.reason === 'no shipping from prod'), 'refusals are recorded with their reason');
  });

  test('list equals call at the wire, legacy and modern clients (B2)', async () => {
    const all = gw.gateway.core.view('default', 'acme').tools.map((t) => t.exposed).filter((n) => n.startsWith('ann__') || n in ARGS);
    for (const who of [ALICE, BOB, GLOBEX]) {
      for (const modern of [false, true]) {
        const c = await client(who, modern);
        try {
          const listed = new Set(await names(c));
          for (const n of all) {
            const r = await call(c, n, ARGS[n] ?? {});
            const usable = r === 'ok' || r.code === -31202;
            assert.equal(listed.has(n), usable, `${who.sub} ${modern ? 'modern' : 'legacy'} ${n}`);
          }
        } finally {
          await c.close();
        }
      }
    }
  });
});

describe('policy changes apply to the next request of an open session (B3)', () => {
  test('config hot reload: a legacy session open across the change sees the new rules, and hears tools/list_changed', async () => {
    const c = await client(ALICE);
    let changed = 0;
    c.setNotificationHandler(ToolListChangedNotificationSchema, () => void changed++);
    try {
      assert.equal(await call(c, 'mock__echo', { text: 'a' }), 'ok');
      gw.reload(yaml(['    - { id: freeze-echo, effect: deny, tools: ["mock__echo"], reason: "frozen" }']));
      await until(() => changed > 0, 'tools/list_changed after the policy reload');
      assert.deepEqual(await call(c, 'mock__echo', { text: 'b' }), { code: -31201, data: { portcullis: 'ERR_POLICY_DENIED', rule: 'freeze-echo', reason: 'frozen' } });
      assert.ok(!(await names(c)).includes('mock__echo'));
      gw.reload(yaml());
      assert.equal(await call(c, 'mock__echo', { text: 'c' }), 'ok');
      assert.ok((await names(c)).includes('mock__echo'));
    } finally {
      await c.close();
    }
  });
});

describe('guards of every matching allow rule are checked', () => {
  test('an allow rule with guards refuses a call another allow rule alone would let through', async () => {
    gw.reload(yaml(['    - { id: echo-guarded, effect: allow, roles: [dev], tools: ["mock__echo"], guards: { noDotDot: true } }']));
    const c = await client(ALICE);
    try {
      assert.equal(await call(c, 'mock__echo', { text: 'fine' }), 'ok');
      const before = upstreamCalls();
      const r = await call(c, 'mock__echo', { text: '../../etc/passwd' });
      assert.equal(typeof r === 'object' && r.data.portcullis, 'ERR_ARGUMENT_GUARD');
      assert.equal(upstreamCalls(), before);
    } finally {
      await c.close();
      gw.reload(yaml());
    }
  });
});

describe('prompts, resources and templates are default deny too', () => {
  test('lists and reads follow prompt and resource rules', async () => {
    gw.reload(
      yaml([
        '    - { id: dev-greet, effect: allow, roles: [dev], prompts: ["mock__greet"] }',
        '    - { id: dev-items, effect: allow, roles: [dev], resources: ["mock://item/*"] }',
      ]),
    );
    const alice = await client(ALICE);
    const bob = await client(BOB);
    try {
      assert.deepEqual((await alice.listPrompts()).prompts.map((p) => p.name), ['mock__greet']);
      assert.deepEqual((await alice.listResources()).resources.map((r) => r.uri), []);
      assert.deepEqual((await alice.listResourceTemplates()).resourceTemplates.map((r) => r.uriTemplate), ['mock://item/{id}']);
      await alice.readResource({ uri: 'mock://item/7' });
      await alice.getPrompt({ name: 'mock__greet', arguments: { name: 'x' } });
      await assert.rejects(alice.readResource({ uri: 'mock://static' }), (e: { code?: number }) => e.code === -31201);
      assert.deepEqual((await bob.listPrompts()).prompts, []);
      assert.deepEqual((await bob.listResourceTemplates()).resourceTemplates, []);
      await assert.rejects(bob.getPrompt({ name: 'mock__greet', arguments: { name: 'x' } }), (e: { code?: number }) => e.code === -31201);
      await assert.rejects(bob.readResource({ uri: 'mock://item/7' }), (e: { code?: number }) => e.code === -31201);
    } finally {
      await alice.close();
      await bob.close();
      gw.reload(yaml());
    }
  });
});

describe('admin API for policy rules', () => {
  const api = `/admin/api/policies`;
  const req = async (w: Who, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> => {
    const res = await fetch(`${gw.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${await token(w)}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  };
  const ACME_ADMIN: Who = { sub: 'root', tenant: 'acme', roles: ['admin'] };
  const GLOBEX_ADMIN: Who = { sub: 'groot', tenant: 'globex', roles: ['admin'] };

  test('an admin adds a rule for its own tenant; it applies to the next request of an open session, and deleting it lifts it', async () => {
    const alice = await client(ALICE);
    const gina = await client(GLOBEX);
    try {
      assert.equal(await call(alice, 'mock__echo', { text: 'a' }), 'ok');
      let aliceHeard = 0;
      let ginaHeard = 0;
      alice.setNotificationHandler(ToolListChangedNotificationSchema, () => void aliceHeard++);
      gina.setNotificationHandler(ToolListChangedNotificationSchema, () => void ginaHeard++);
      // `tenants` is forced to the caller's tenant, whatever the body says.
      const created = await req(ACME_ADMIN, 'POST', api, { id: 'block-echo', effect: 'deny', tools: ['mock__echo'], tenants: ['globex'], reason: 'blocked by admin' });
      assert.equal(created.status, 201, JSON.stringify(created.json));
      assert.deepEqual(created.json.tenants, ['acme']);
      assert.equal(created.json.source, 'store');
      assert.equal((await gw.store.policyRules.get('acme', 'block-echo'))?.tenant, 'acme', 'persisted in the store');

      assert.deepEqual(await call(alice, 'mock__echo', { text: 'b' }), { code: -31201, data: { portcullis: 'ERR_POLICY_DENIED', rule: 'block-echo', reason: 'blocked by admin' } });
      assert.equal(await call(gina, 'mock__echo', { text: 'b' }), 'ok', 'another tenant is not affected');
      await until(() => aliceHeard > 0, "tools/list_changed on the rule's tenant's open session");
      assert.equal(ginaHeard, 0, 'another tenant hears nothing of it');

      const list = await req(ACME_ADMIN, 'GET', api);
      assert.deepEqual((list.json.rules as { id: string }[]).map((r) => r.id), ['block-echo']);
      assert.equal((await req(ACME_ADMIN, 'GET', `${api}/block-echo`)).json.id, 'block-echo');
      assert.equal((await req(ACME_ADMIN, 'POST', api, { id: 'block-echo', effect: 'deny' })).status, 409);

      // Another tenant's admin cannot see, read or delete it: 404, as for an id that does not exist.
      assert.deepEqual((await req(GLOBEX_ADMIN, 'GET', api)).json.rules, []);
      assert.equal((await req(GLOBEX_ADMIN, 'GET', `${api}/block-echo`)).status, 404);
      assert.equal((await req(GLOBEX_ADMIN, 'DELETE', `${api}/block-echo`)).status, 404);
      assert.equal((await req(ACME_ADMIN, 'GET', `${api}/nope`)).status, 404);
      assert.equal((await req(BOB, 'GET', api)).status, 403, 'not an admin');

      assert.equal((await req(ACME_ADMIN, 'DELETE', `${api}/block-echo`)).status, 204);
      assert.equal(await call(alice, 'mock__echo', { text: 'c' }), 'ok');
      assert.equal(await gw.store.policyRules.get('acme', 'block-echo'), undefined);
    } finally {
      await alice.close();
      await gina.close();
    }
  });

  test('bad input is 400 ERR_BAD_INPUT: schema errors, CEL errors, annotations on allow, bad JSON', async () => {
    for (const body of [
      { id: 'x', effect: 'maybe' },
      { id: 'bad id!', effect: 'deny' },
      { id: 'x', effect: 'deny', when: 'args.x +' },
      { id: 'x', effect: 'deny', when: '1 + 2' },
      { id: 'x', effect: 'allow', annotations: { readOnlyHint: true } },
      { id: 'x', effect: 'deny', extra: 1 },
      '{not json',
    ]) {
      const r = await req(ACME_ADMIN, 'POST', api, body);
      assert.equal(r.status, 400, JSON.stringify(body));
      const err = r.json.error as { code?: number; data?: { portcullis?: string } } | undefined;
      assert.equal(err?.data?.portcullis, 'ERR_BAD_INPUT', JSON.stringify(body));
      assert.equal(err?.code, -31214);
    }
    assert.deepEqual((await req(ACME_ADMIN, 'GET', api)).json.rules, []);
  });
});
