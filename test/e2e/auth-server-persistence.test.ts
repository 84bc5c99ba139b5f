/**
 * The built-in authorization server keeps its state in the storage port: registered clients,
 * refresh tokens, remembered consent, sessions and spent codes survive a restart on SQLite
 * (security checklist A7: code replay and refresh-token reuse stay rejected after the restart).
 * Driven over real HTTP without a browser, like auth-server.test.ts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createLocalJWKSet, jwtVerify } from 'jose';
import type { AdapterPayload } from 'oidc-provider';
import { CONSENT_MODEL, storeAdapterFactory } from '../../src/auth/server/adapter-store.js';
import { AuthorizationServerConfig } from '../../src/auth/server/config.js';
import { createAuthorizationServer, type AuthorizationServer } from '../../src/auth/server/provider.js';
import { addUser } from '../../src/auth/users/users.js';
import { openStore } from '../../src/storage/index.js';
import type { Store } from '../../src/storage/ports.js';
import { SQLITE_FILE } from '../../src/storage/sqlite/open.js';
import { Jar } from '../helpers/oauth-browser.js';

const PASSWORD = 'persistent-pass-42';
const CALLBACK = 'http://127.0.0.1:47999/oauth/callback';
const sha256 = (s: string): string => createHash('sha256').update(s).digest('base64url');

interface Reply {
  status: number;
  text: string;
  location?: string;
}
interface Page {
  kind: 'login' | 'consent';
  uid: string;
  csrf: string;
}
type Outcome = { callback: URL } | { page: Page } | { error: Reply };

function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: sha256(verifier) };
}

/** One authorization server instance on a plain node:http server at a fixed or fresh port. */
class Instance {
  readonly logs: string[] = [];
  as!: AuthorizationServer;
  origin = '';
  private server!: Server;

  static async start(store: Store, dataDir: string, cookieKeys: string[], port = 0): Promise<Instance> {
    const i = new Instance();
    i.server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      if (i.as?.owns(path)) void i.as.handle(req, res);
      else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r, j) => {
      i.server.once('error', j);
      i.server.listen(port, '127.0.0.1', r);
    });
    i.origin = `http://127.0.0.1:${(i.server.address() as { port: number }).port}`;
    const line = (level: string) => (o: object, m?: string) => void i.logs.push(`${level} ${m ?? ''} ${JSON.stringify(o)}`);
    i.as = await createAuthorizationServer({
      issuer: i.origin,
      resources: [`${i.origin}/mcp`],
      scopes: ['mcp:tools'],
      users: store.users,
      cfg: AuthorizationServerConfig.parse({ enabled: true }),
      dataDir,
      storage: 'sqlite',
      cookieKeys,
      oauthState: store.oauthState,
      logger: { info: line('info'), warn: line('warn'), error: line('error') },
    });
    return i;
  }

  get port(): number {
    return Number(new URL(this.origin).port);
  }

  async close(): Promise<void> {
    await this.as?.close();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  async http(jar: Jar | undefined, method: string, url: string, o: { form?: Record<string, string>; json?: unknown } = {}): Promise<Reply> {
    const u = new URL(url, this.origin);
    const headers: Record<string, string> = {};
    const cookie = jar?.header(u.pathname);
    if (cookie) headers.cookie = cookie;
    let body: string | undefined;
    if (o.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(o.form).toString();
    } else if (o.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(o.json);
    }
    const res = await fetch(u, { method, headers, body, redirect: 'manual', signal: AbortSignal.timeout(15_000) });
    jar?.store(res.headers.getSetCookie());
    const text = await res.text();
    const location = res.headers.get('location');
    return { status: res.status, text, ...(location !== null ? { location: new URL(location, u).href } : {}) };
  }

  /** Follows redirects on the issuer (at most 10) until a page, the client callback, or an error. */
  async drive(jar: Jar, start: string): Promise<Outcome> {
    let url = start;
    for (let hop = 0; hop < 10; hop++) {
      const r = await this.http(jar, 'GET', url);
      if (r.status >= 300 && r.status < 400 && r.location) {
        const next = new URL(r.location);
        if (next.origin !== this.origin) return { callback: next };
        url = next.href;
        continue;
      }
      const m = /\/interaction\/([A-Za-z0-9_-]+)$/.exec(new URL(url, this.origin).pathname);
      if (r.status === 200 && m?.[1]) {
        const csrf = /name="csrf" value="([^"]+)"/.exec(r.text)?.[1] ?? '';
        return { page: { kind: r.text.includes('id="approve"') ? 'consent' : 'login', uid: m[1], csrf } };
      }
      return { error: r };
    }
    throw new Error('too many redirects');
  }

  async register(name: string): Promise<string> {
    const r = await this.http(undefined, 'POST', '/reg', {
      json: {
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        client_name: name,
        redirect_uris: [CALLBACK],
        response_types: ['code'],
        grant_types: ['authorization_code', 'refresh_token'],
        scope: 'mcp:tools offline_access',
      },
    });
    assert.equal(r.status, 201, r.text);
    return (JSON.parse(r.text) as { client_id: string }).client_id;
  }

  authUrl(clientId: string, p: Record<string, string | undefined>): string {
    const q = new URLSearchParams();
    const all: Record<string, string | undefined> = {
      response_type: 'code',
      client_id: clientId,
      redirect_uri: CALLBACK,
      scope: 'mcp:tools offline_access',
      state: randomBytes(8).toString('hex'),
      code_challenge_method: 'S256',
      resource: `${this.origin}/mcp`,
      ...p,
    };
    for (const [k, v] of Object.entries(all)) if (v !== undefined) q.set(k, v);
    return `/auth?${q.toString()}`;
  }

  /** Signs in (if asked) and consents (if asked) up to the client callback. */
  async signIn(jar: Jar, clientId: string, p: Record<string, string | undefined>): Promise<{ callback: URL; sawLogin: boolean; sawConsent: boolean }> {
    let o = await this.drive(jar, this.authUrl(clientId, p));
    let sawLogin = false;
    let sawConsent = false;
    for (let step = 0; step < 4 && 'page' in o; step++) {
      const { page } = o;
      if (page.kind === 'login') sawLogin = true;
      else sawConsent = true;
      const form: Record<string, string> = page.kind === 'login' ? { csrf: page.csrf, username: 'alice', password: PASSWORD } : { csrf: page.csrf };
      const r = await this.http(jar, 'POST', `/interaction/${page.uid}/${page.kind === 'login' ? 'login' : 'confirm'}`, { form });
      assert.equal(r.status, 303, r.text.slice(0, 300));
      o = await this.drive(jar, r.location ?? '');
    }
    assert.ok('callback' in o, `expected the client callback, got ${'error' in o ? `${o.error.status} ${o.error.text.slice(0, 200)}` : 'a page'}`);
    return { callback: o.callback, sawLogin, sawConsent };
  }

  async token(form: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
    const r = await this.http(undefined, 'POST', '/token', { form });
    return { status: r.status, body: JSON.parse(r.text) as Record<string, unknown> };
  }
}

describe('authorization server state survives a restart (SQLite store)', () => {
  let root: string;
  let dataDir: string;
  let store: Store | undefined;
  let inst: Instance | undefined;
  const cookieKeys = [randomBytes(32).toString('base64url')];

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'pcl-as-persist-'));
    dataDir = join(root, 'data');
  });

  after(async () => {
    await inst?.close();
    await store?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('A7: keeps clients, refresh tokens, consent and sessions, and spent codes stay spent', async () => {
    // First life: register, sign in with consent, redeem the code.
    store = await openStore({ kind: 'sqlite', dataDir });
    await addUser(store.users, { username: 'alice', tenant: 'acme', roles: ['dev'], password: PASSWORD });
    inst = await Instance.start(store, dataDir, cookieKeys);
    const port = inst.port;
    const clientId = await inst.register('persistent client');
    const browser = new Jar();
    const { verifier, challenge } = pkce();
    // prompt=consent: oidc-provider grants offline_access (a refresh token) only with it.
    const first = await inst.signIn(browser, clientId, { code_challenge: challenge, prompt: 'consent' });
    assert.ok(first.sawLogin && first.sawConsent, 'the first authorization asks to sign in and to consent');
    const code = first.callback.searchParams.get('code') ?? '';
    const codeForm = { grant_type: 'authorization_code', code, redirect_uri: CALLBACK, client_id: clientId, code_verifier: verifier };
    const t1 = await inst.token(codeForm);
    assert.equal(t1.status, 200, JSON.stringify(t1.body));
    const rt1 = String(t1.body.refresh_token);
    assert.ok(rt1.length > 20, 'a refresh token was issued');

    // The database file holds neither the code nor the refresh token, only their hashes.
    const raw = new Database(join(dataDir, SQLITE_FILE), { readonly: true });
    try {
      const rows = raw.prepare('select model, id, payload from oauth_state').all() as { model: string; id: string; payload: string }[];
      const dump = JSON.stringify(rows);
      assert.ok(!dump.includes(rt1) && !dump.includes(code), 'no bearer credential in the database');
      assert.ok(rows.some((r) => r.model === 'RefreshToken' && r.id === sha256(rt1)), 'the refresh token is stored under its hash');
      assert.ok(rows.some((r) => r.model === 'Client' && r.id === clientId), 'the client is stored');
      assert.ok(rows.some((r) => r.model === CONSENT_MODEL), 'the consent is stored');
    } finally {
      raw.close();
    }

    await inst.close();
    inst = undefined;
    await store.close();

    // Second life: same data directory (so the same signing keys), same port (so the same issuer;
    // the port was just released, so rebinding it is immediate on loopback).
    store = await openStore({ kind: 'sqlite', dataDir });
    inst = await Instance.start(store, dataDir, cookieKeys, port);
    assert.equal(await store.oauthState.count('Client'), 1);

    // The browser's session was stored too: straight back with a code, no login, no consent.
    const resumed = await inst.drive(browser, inst.authUrl(clientId, { code_challenge: pkce().challenge }));
    assert.ok('callback' in resumed && resumed.callback.searchParams.get('code'), 'a stored session signs the browser in');

    // A fresh browser signs in again, but the consent for this user and client is remembered.
    const fresh = await inst.signIn(new Jar(), clientId, { code_challenge: pkce().challenge });
    assert.equal(fresh.sawLogin, true);
    assert.equal(fresh.sawConsent, false, 'consent given before the restart is remembered');
    assert.ok(fresh.callback.searchParams.get('code'), 'a code after sign-in');
    // Control: a client registered now has no consent yet, so the consent page does show.
    const other = await inst.register('new client');
    assert.equal((await inst.signIn(new Jar(), other, { code_challenge: pkce().challenge })).sawConsent, true);

    // The refresh token still works and rotates; the new access token verifies with the kept keys.
    const t2 = await inst.token({ grant_type: 'refresh_token', refresh_token: rt1, client_id: clientId });
    assert.equal(t2.status, 200, JSON.stringify(t2.body));
    const rt2 = String(t2.body.refresh_token);
    assert.notEqual(rt2, rt1);
    const { payload } = await jwtVerify(String(t2.body.access_token), createLocalJWKSet(inst.as.jwks()), { issuer: inst.origin, audience: `${inst.origin}/mcp` });
    assert.equal(payload.sub, 'alice');
    assert.equal(payload.client_id, clientId);

    // The code redeemed before the restart is still spent, and replaying it revokes its grant.
    const replay = await inst.token(codeForm);
    assert.equal(replay.status, 400);
    assert.equal(replay.body.error, 'invalid_grant');
    const afterReplay = await inst.token({ grant_type: 'refresh_token', refresh_token: rt2, client_id: clientId });
    assert.equal(afterReplay.body.error, 'invalid_grant', 'tokens of the replayed code are revoked');

    for (const secret of [PASSWORD, rt1, rt2, code]) assert.ok(!inst.logs.join('\n').includes(secret), 'no secret in the log');
  });

  it('a rotated refresh token reused after a restart revokes its family', async () => {
    // Independent of the case above: start from whatever it left in the data directory.
    await inst?.close();
    inst = undefined;
    await store?.close();
    store = await openStore({ kind: 'sqlite', dataDir });
    if (!(await store.users.get('alice'))) await addUser(store.users, { username: 'alice', tenant: 'acme', roles: ['dev'], password: PASSWORD });
    inst = await Instance.start(store, dataDir, cookieKeys);
    const clientId = await inst.register('rotation');
    const { verifier, challenge } = pkce();
    const { callback } = await inst.signIn(new Jar(), clientId, { code_challenge: challenge, prompt: 'consent' });
    const t = await inst.token({ grant_type: 'authorization_code', code: callback.searchParams.get('code') ?? '', redirect_uri: CALLBACK, client_id: clientId, code_verifier: verifier });
    const rt1 = String(t.body.refresh_token);
    const r2 = await inst.token({ grant_type: 'refresh_token', refresh_token: rt1, client_id: clientId });
    assert.equal(r2.status, 200);
    const rt2 = String(r2.body.refresh_token);

    const port = inst.port;
    await inst.close();
    inst = undefined;
    await store.close();
    store = await openStore({ kind: 'sqlite', dataDir });
    inst = await Instance.start(store, dataDir, cookieKeys, port);

    const reuse = await inst.token({ grant_type: 'refresh_token', refresh_token: rt1, client_id: clientId });
    assert.equal(reuse.body.error, 'invalid_grant', 'the consumed token is remembered as consumed');
    const successor = await inst.token({ grant_type: 'refresh_token', refresh_token: rt2, client_id: clientId });
    assert.equal(successor.body.error, 'invalid_grant', 'the newer token of the family is revoked too');
  });
});

describe('store-backed oidc-provider adapter', () => {
  it('caps new records of a capped model but lets existing ones be replaced', async () => {
    const store = await openStore({ kind: 'memory', dataDir: '' });
    try {
      const refused: string[] = [];
      const factory = storeAdapterFactory({ store: store.oauthState, caps: { Client: 2 }, onRefuse: (m) => refused.push(m) });
      const clients = factory('Client');
      await clients.upsert('c1', { client_id: 'c1' });
      await clients.upsert('c2', { client_id: 'c2' });
      await assert.rejects(clients.upsert('c3', { client_id: 'c3' }), { error: 'temporarily_unavailable' });
      assert.deepEqual(refused, ['Client']);
      await clients.upsert('c2', { client_id: 'c2', client_name: 'renamed' });
      assert.equal((await clients.find('c2'))?.client_name, 'renamed');
      await clients.destroy('c1');
      await clients.upsert('c3', { client_id: 'c3' });
      assert.equal(await store.oauthState.count('Client'), 2);
      // Uncapped models are not counted.
      for (let i = 0; i < 5; i++) await factory('Grant').upsert(`g${i}`, { accountId: 'a' }, 60);
      assert.equal(await store.oauthState.count('Grant'), 5);
    } finally {
      await store.close();
    }
  });

  it('speaks the adapter contract: expiry, consumed in epoch seconds, uid lookup, grant revocation', async () => {
    const store = await openStore({ kind: 'memory', dataDir: '' });
    try {
      const factory = storeAdapterFactory({ store: store.oauthState });
      const codes = factory('AuthorizationCode');
      const sessions = factory('Session');
      const payload: AdapterPayload = { jti: 'code-value', grantId: 'G', kind: 'AuthorizationCode', exp: Math.floor(Date.now() / 1000) + 60 };
      await codes.upsert('code-value', payload, 60);
      assert.deepEqual(await codes.find('code-value'), payload);
      // Stored under the hash, without the value.
      const rec = await store.oauthState.find('AuthorizationCode', sha256('code-value'));
      assert.ok(rec && !rec.payload.includes('code-value'), 'stored under the hash, without the value');
      assert.equal(await store.oauthState.find('AuthorizationCode', 'code-value'), undefined);

      const before = Math.floor(Date.now() / 1000);
      await codes.consume('code-value');
      const consumed = (await codes.find('code-value'))?.consumed as number;
      assert.ok(Number.isInteger(consumed) && consumed >= before && consumed <= Math.floor(Date.now() / 1000) + 1, `consumed is epoch seconds, got ${consumed}`);

      await sessions.upsert('sess-id', { jti: 'sess-id', uid: 'U1', accountId: 'alice' }, 60);
      assert.equal((await sessions.findByUid('U1'))?.jti, 'sess-id');
      assert.equal(await sessions.findByUid('U2'), undefined);

      await factory('RefreshToken').upsert('rt', { jti: 'rt', grantId: 'G' }, 60);
      await factory('Grant').upsert('G', { jti: 'G', accountId: 'alice' }, 60);
      await factory('AccessToken').revokeByGrantId('G');
      assert.equal(await codes.find('code-value'), undefined);
      assert.equal(await factory('RefreshToken').find('rt'), undefined);
      assert.ok(await factory('Grant').find('G'), 'the grant itself goes only by destroy');

      await factory('Interaction').upsert('gone', { jti: 'gone' }, 0);
      assert.equal(await factory('Interaction').find('gone'), undefined, 'expiresIn 0 is already expired');
      await factory('Interaction').upsert('kept', { jti: 'kept' });
      assert.ok(await factory('Interaction').find('kept'), 'no expiresIn: no expiry');
    } finally {
      await store.close();
    }
  });
});
