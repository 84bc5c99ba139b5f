/**
 * restartNeeded names exactly the start-only settings a reload changed (config/start-only.ts),
 * and a gateway that applies such a reload logs `config.restart_needed` with them.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { loadConfigText } from '../../src/config/load.js';
import { restartNeeded, START_ONLY_SETTINGS } from '../../src/config/start-only.js';
import { configJsonSchema } from '../../src/config/docs.js';
import { issueApiKey, startGateway } from '../helpers/gateway.js';

const PATH = '/srv/p/portcullis.yaml';
const load = (text: string, env: NodeJS.ProcessEnv = {}) => loadConfigText(`upstreams: []\n${text}`, { path: PATH, env });
const AUTH = 'auth: { apiKeys: { enabled: true } }';

describe('restartNeeded', () => {
  it('is empty for hot settings and for an identical file', () => {
    const a = load('gateway: { limits: { maxBodyBytes: 1mb }, sessions: { max: 10 } }\nrateLimits: { rules: [] }');
    assert.deepEqual(restartNeeded(a, a), []);
    const b = load('gateway: { limits: { maxBodyBytes: 2mb }, sessions: { max: 20 }, allowedOrigins: [https://console.example] }\nrateLimits: { rules: [] }');
    assert.deepEqual(restartNeeded(b, a), []);
  });

  it('names each start-only setting that changed, in a stable order', () => {
    const a = load('gateway: { port: 8080 }\naudit: { checkpointInterval: 1s }');
    const b = load('gateway: { port: 9090, limits: { maxHeaderBytes: 8kb } }\nlog: { level: debug }\naudit: { checkpointInterval: 2s }\nobservability: { metrics: { enabled: false } }');
    assert.deepEqual(restartNeeded(b, a), ['gateway.port', 'gateway.limits.maxHeaderBytes', 'log.level', 'audit', 'observability']);
    assert.deepEqual(restartNeeded(a, b), ['gateway.port', 'gateway.limits.maxHeaderBytes', 'log.level', 'audit', 'observability']);
  });

  it('treats switching authentication on as start-only, and its settings only while it stays on', () => {
    const open = load('');
    const on = load(AUTH);
    assert.deepEqual(restartNeeded(on, open), ['auth (switching authentication on or off)']);
    const onOther = load('auth: { apiKeys: { enabled: true }, resource: "https://gw.example" }');
    assert.deepEqual(restartNeeded(onOther, on), ['auth.resource']);
    assert.deepEqual(restartNeeded(load('auth: { apiKeys: { enabled: true }, adminRoles: [ops] }'), on), [], 'admin roles are read per request');
    const keysOff = load('auth: { apiKeys: { enabled: false }, issuers: [{ name: idp, issuer: "https://idp.example", jwksUri: "https://idp.example/jwks" }] }');
    assert.deepEqual(restartNeeded(keysOff, on), [], 'turning API keys off applies at once');
    assert.deepEqual(restartNeeded(on, keysOff), ['auth.apiKeys.enabled (turning API keys on; turning them off applies at once)']);
    const withUrl = load(`gateway: { publicUrl: "https://gw.example" }\n${AUTH}`);
    assert.deepEqual(restartNeeded(withUrl, on), ['gateway.publicUrl (as the OAuth resource URL)']);
    assert.deepEqual(restartNeeded(load('gateway: { publicUrl: "https://gw.example" }'), open), [], 'publicUrl alone is hot (host policy)');
  });

  it('lists only settings that exist in the config schema, down to the last key', () => {
    type Node = { properties?: Record<string, Node>; anyOf?: Node[] };
    const child = (n: Node | undefined, k: string): Node | undefined => n?.properties?.[k] ?? n?.anyOf?.map((a) => a.properties?.[k]).find((x) => x !== undefined);
    for (const s of START_ONLY_SETTINGS) {
      let n: Node | undefined = configJsonSchema() as Node;
      for (const k of s.split(' ')[0]!.split('.')) n = child(n, k);
      assert.ok(n !== undefined, `${s} is not in the config schema`);
    }
    assert.equal(child(child(configJsonSchema() as Node, 'gateway'), 'nope'), undefined, 'the walk can fail');
  });
});

describe('a reload that changes a start-only setting', () => {
  it('applies the rest and logs config.restart_needed naming what waits', async () => {
    const out = new PassThrough();
    let logText = '';
    out.on('data', (c: Buffer) => (logText += c.toString('utf8')));
    const base = 'gateway: { storage: memory }\nlog: { level: silent }\nupstreams: []\n';
    const gw = await startGateway(base, process.env, { logTo: out, logLevel: 'info' });
    try {
      gw.reload(`${base}audit: { checkpointInterval: 3s }\n`);
      await new Promise((r) => setTimeout(r, 20));
      const lines = logText.split('\n').filter((l) => l.includes('"config.restart_needed"')).map((l) => JSON.parse(l) as { level: number; settings: string[] });
      assert.equal(lines.length, 1, logText);
      assert.deepEqual(lines[0]?.settings, ['audit']);
      assert.equal(lines[0]?.level, 40, 'a warning');
    } finally {
      await gw.close();
    }
  });

  it('turning API keys off applies at once: a key that worked is refused after the reload', async () => {
    const base = 'gateway: { storage: memory }\nlog: { level: silent }\nupstreams: []\n';
    const gw = await startGateway(`${base}auth: { apiKeys: { enabled: true } }\n`);
    try {
      const key = await issueApiKey(gw, 'k1', 'acme');
      const init = () =>
        fetch(gw.mcp, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
          body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } }),
        });
      const ok = await init();
      assert.equal(ok.status, 200);
      await ok.body?.cancel();
      gw.reload(`${base}auth: { apiKeys: { enabled: false }, issuers: [{ name: idp, issuer: "https://idp.example", jwksUri: "https://idp.example/jwks" }] }\n`);
      const refused = await init();
      assert.equal(refused.status, 401);
      await refused.body?.cancel();
    } finally {
      await gw.close();
    }
  });
});
