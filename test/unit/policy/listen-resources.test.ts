/**
 * Modern `subscriptions/listen` resource subscriptions are judged as `resources/subscribe` is:
 * a URI policy refuses is left out of the filter and the acknowledgement, and its
 * `notifications/resources/updated` never reaches the stream; an allowed URI still does. At
 * delivery the endpoint's current view must route the URI and the current stored rules allow it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Catalog } from '../../../src/catalog/catalog.js';
import { viewOf } from '../../../src/catalog/view.js';
import type { JsonRpcNotification } from '../../../src/mcp/jsonrpc.js';
import type { CallContext } from '../../../src/pipeline/context.js';
import type { GatewayError } from '../../../src/pipeline/errors.js';
import { listen } from '../../../src/pipeline/local/listen.js';
import { PolicyEngine } from '../../../src/policy/engine.js';
import { Fanout } from '../../../src/runtime/fanout.js';
import { authorize } from '../../../src/stages/authorize/authorize.js';
import { route } from '../../../src/stages/route/route.js';
import { callContext, principal, snapshotOf } from './fixtures.js';

const SECRET = 'file:///secret/payroll.csv';
const PUBLIC = 'file:///public/readme.md';

/** `fs` lists `uris`; a second resource upstream keeps the view from routing every other URI to `fs`. */
function catalogWith(uris: readonly string[], version = 1): Catalog {
  const part = (name: string, list: readonly string[]) => ({
    name,
    prefix: name,
    tags: [],
    tenant: 'acme',
    shareWith: new Set<string>(),
    lists: { tools: [], prompts: [], resources: list.map((uri) => ({ uri, name: uri })), templates: [] },
    capabilities: { resources: { subscribe: true } },
  });
  return Catalog.build(version, [part('fs', uris), part('other', [])], '__');
}

const RULES = [
  { id: 'deny-secret', effect: 'deny', resources: ['file:///secret/*'] },
  { id: 'allow-files', effect: 'allow', resources: ['file:///*'] },
];

interface Open {
  ctx: CallContext;
  fanout: Fanout;
  sent: JsonRpcNotification[];
  close(): Promise<void>;
}

/** The catalogue the fan-out reads (CatalogService.current in the gateway). */
let current: Catalog;

/** Opens a listen for `uris` through the real handler, its listener registered with a real fan-out. */
function openListen(uris: readonly string[], policy?: { version: number; engine: () => PolicyEngine }): Open {
  const snapshot = snapshotOf(RULES, [{ name: 'fs', tags: [] }]);
  const catalog = catalogWith([SECRET, PUBLIC]);
  current = catalog;
  const fanout = new Fanout({ all: () => [] } as never, () => [], () => current);
  const sent: JsonRpcNotification[] = [];
  const ac = new AbortController();
  const base = callContext(snapshot, viewOf(catalog, undefined, 'acme'), principal(), 'subscriptions/listen', { notifications: { resourceSubscriptions: uris } });
  const ctx = {
    ...base,
    request: { ...base.request, id: 'sub-1' },
    sink: { notify: (m: JsonRpcNotification) => void sent.push(m) },
    signal: ac.signal,
    runtime: { ...base.runtime, addListener: (l) => fanout.addListener(l), ...(policy ? { policy } : {}) },
  } as CallContext;
  const done = listen(ctx);
  return {
    ctx,
    fanout,
    sent,
    close: async () => {
      ac.abort();
      assert.deepEqual(await done, { result: {} });
      assert.equal(fanout.listeners.size, 0);
    },
  };
}

const updated = (uri: string): JsonRpcNotification => ({ jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri } });
const updates = (sent: readonly JsonRpcNotification[]): unknown[] => sent.filter((m) => m.method === 'notifications/resources/updated').map((m) => m.params?.uri);

describe('subscriptions/listen resource subscriptions and policy', () => {
  it('a URI whose resources/subscribe policy refuses is not acknowledged and its updates never reach the listener', async () => {
    const l = openListen([SECRET]);
    try {
      // The same principal's legacy subscribe is refused by policy.
      const sub = { ...l.ctx, request: { jsonrpc: '2.0', id: 2, method: 'resources/subscribe', params: { uri: SECRET } } } as CallContext;
      assert.throws(() => authorize(sub, route(sub)), (e: GatewayError) => e.code === 'ERR_POLICY_DENIED');
      const ack = l.sent[0]!;
      assert.equal(ack.method, 'notifications/subscriptions/acknowledged');
      assert.deepEqual(ack.params?.notifications, {}, 'the refused URI is not acknowledged');
      l.fanout.resourceUpdated(updated(SECRET), () => true);
      assert.deepEqual(updates(l.sent), []);
    } finally {
      await l.close();
    }
  });

  it('an allowed URI is acknowledged and gets its update, tagged; a refused one beside it does not', async () => {
    const l = openListen([SECRET, PUBLIC, 'file:///public/unknown.txt']);
    try {
      assert.deepEqual(l.sent[0]!.params?.notifications, { resourceSubscriptions: [PUBLIC] }, 'a URI the view does not route is left out too');
      l.fanout.resourceUpdated(updated(SECRET), () => true);
      l.fanout.resourceUpdated(updated(PUBLIC), () => true);
      assert.deepEqual(updates(l.sent), [PUBLIC]);
      const meta = l.sent.at(-1)!.params?._meta as Record<string, unknown>;
      assert.equal(meta['io.modelcontextprotocol/subscriptionId'], 'sub-1');
      l.fanout.resourceUpdated(updated(PUBLIC), () => false);
      assert.equal(updates(l.sent).length, 1, 'an upstream the tenant may not use is still not heard');
    } finally {
      await l.close();
    }
  });

  it('at delivery the current view must still route the URI (catalogue rebuilt without it)', async () => {
    const l = openListen([PUBLIC]);
    try {
      l.fanout.resourceUpdated(updated(PUBLIC), () => true);
      assert.deepEqual(updates(l.sent), [PUBLIC]);
      current = catalogWith([SECRET], 2);
      l.fanout.resourceUpdated(updated(PUBLIC), () => true);
      assert.deepEqual(updates(l.sent), [PUBLIC], 'no update once the view no longer routes the URI');
    } finally {
      await l.close();
    }
  });

  it('at delivery policy is judged again: a stored rule added after the listen opened stops the updates', async () => {
    const snapshot = snapshotOf(RULES, [{ name: 'fs', tags: [] }]);
    const service = { version: 1, current: new PolicyEngine(snapshot.policy.rules, snapshot), engine(): PolicyEngine { return this.current; } };
    const l = openListen([PUBLIC], service);
    try {
      l.fanout.resourceUpdated(updated(PUBLIC), () => true);
      assert.deepEqual(updates(l.sent), [PUBLIC]);
      const denyPublic = snapshotOf([...RULES, { id: 'deny-public', effect: 'deny', resources: ['file:///public/*'] }], [{ name: 'fs', tags: [] }]);
      service.current = new PolicyEngine(denyPublic.policy.rules, denyPublic);
      service.version = 2;
      l.fanout.resourceUpdated(updated(PUBLIC), () => true);
      assert.deepEqual(updates(l.sent), [PUBLIC], 'no second update after the deny');
    } finally {
      await l.close();
    }
  });
});
