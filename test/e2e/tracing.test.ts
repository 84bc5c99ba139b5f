/**
 * OpenTelemetry traces at the wire: a real OTLP/HTTP (JSON) receiver on loopback, real mock
 * upstreams (legacy HTTP, modern HTTP, stdio) that record what they were sent. Each call must
 * arrive as one SERVER span under the caller's traceparent, with one child per pipeline stage and
 * a CLIENT span per upstream hop, and the upstream must have seen that hop's traceparent
 * (header for HTTP, `_meta.traceparent` for stdio and modern requests).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { startMockHttp, type MockHttp } from '../fixtures/mock-upstream/http-server.js';
import { MODERN, gatewayYaml, readReply, until, upstreamYaml, type RpcMsg } from './helpers-wire.js';
import { STAGES } from '../../src/observability/call.js';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: { stringValue?: string } }[];
  status?: { code?: number };
}

interface Receiver {
  url: string;
  spans: OtlpSpan[];
  contentTypes: string[];
  services: string[];
  server: Server;
}

async function startReceiver(): Promise<Receiver> {
  const r: Receiver = { url: '', spans: [], contentTypes: [], services: [], server: createServer() };
  r.server.on('request', (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      r.contentTypes.push(String(req.headers['content-type']));
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        resourceSpans: { resource: { attributes: OtlpSpan['attributes'] }; scopeSpans: { spans: OtlpSpan[] }[] }[];
      };
      for (const rs of body.resourceSpans) {
        const svc = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue;
        if (svc) r.services.push(svc);
        for (const ss of rs.scopeSpans) r.spans.push(...ss.spans);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((ok) => r.server.listen(0, '127.0.0.1', ok));
  r.url = `http://127.0.0.1:${(r.server.address() as AddressInfo).port}/v1/traces`;
  return r;
}

const META = { 'io.modelcontextprotocol/protocolVersion': MODERN, 'io.modelcontextprotocol/clientCapabilities': {} };
const SERVER = 2;
const CLIENT = 3;

let rx: Receiver;
let web: MockHttp;
let mod: MockHttp;
let gw: TestGateway;
let seq = 0;

async function call(tool: string, args: Record<string, unknown>, o: { header?: string; meta?: string } = {}): Promise<RpcMsg> {
  const res = await fetch(gw.mcp, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': MODERN,
      'mcp-method': 'tools/call',
      'mcp-name': tool,
      ...(o.header ? { traceparent: o.header } : {}),
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: ++seq, method: 'tools/call', params: { name: tool, arguments: args, _meta: { ...META, ...(o.meta ? { traceparent: o.meta } : {}) } } }),
  });
  const reply = await readReply(res, 10_000);
  const m = reply.messages.find((x) => x.id === seq);
  assert.ok(m, 'a response');
  return m;
}

const hex = (n: number): string => Array.from({ length: n }, () => Math.floor(Math.random() * 16).toString(16)).join('');

/** Flushes the exporter and returns the spans of one trace once its root span has arrived. */
async function traceOf(traceId: string): Promise<OtlpSpan[]> {
  await until(async () => {
    await gw.gateway.tracing!.flush();
    return rx.spans.some((s) => s.traceId === traceId && s.kind === SERVER);
  }, `trace ${traceId}`);
  return rx.spans.filter((s) => s.traceId === traceId);
}

/** Checks the structure: root under `parent`, stage children, one hop; returns root and hop. */
function checkShape(spans: OtlpSpan[], parent: string | undefined, upstream: string): { root: OtlpSpan; hop: OtlpSpan } {
  const roots = spans.filter((s) => s.kind === SERVER);
  assert.equal(roots.length, 1);
  const root = roots[0]!;
  assert.equal(root.name, 'tools/call');
  if (parent) assert.equal(root.parentSpanId, parent);
  const children = spans.filter((s) => s.parentSpanId === root.spanId);
  const names = children.map((s) => s.name);
  for (const st of STAGES.slice(1)) if (st !== 'forward') assert.ok(names.includes(st), `stage span ${st} in ${names.join(',')}`);
  const hops = children.filter((s) => s.kind === CLIENT);
  assert.equal(hops.length, 1);
  assert.equal(hops[0]!.name, `upstream ${upstream}`);
  assert.equal(children.length, STAGES.length - 1, 'one child per stage');
  return { root, hop: hops[0]! };
}

before(async () => {
  rx = await startReceiver();
  web = await startMockHttp({ mode: 'legacy' });
  mod = await startMockHttp({ mode: 'modern' });
  gw = await startGateway(
    gatewayYaml(
      [upstreamYaml('web', 'streamable-http', web.url), upstreamYaml('mod', 'streamable-http', mod.url), upstreamYaml('local', 'stdio')],
      `observability: { tracing: { otlpEndpoint: "${rx.url}", serviceName: trace-test, sampleRatio: 1 } }`,
    ),
  );
  await gw.waitHealthy(['web', 'mod', 'local']);
});

after(async () => {
  await gw?.close();
  await web?.close();
  await mod?.close();
  await new Promise((r) => rx?.server.close(r));
});

describe('tracing', () => {
  test('an incoming traceparent header is the parent; the legacy HTTP upstream sees the hop span as its parent', async () => {
    const traceId = hex(32);
    const parent = hex(16);
    const m = await call('web__echo', { text: 'hi' }, { header: `00-${traceId}-${parent}-01` });
    assert.ok(m.result);
    const spans = await traceOf(traceId);
    const { hop } = checkShape(spans, parent, 'web');
    const sent = `00-${traceId}-${hop.spanId}-01`;
    assert.ok(web.record.requests.some((r) => r.headers.traceparent === sent), 'upstream saw the hop traceparent header');
    assert.ok(rx.contentTypes.every((c) => c.startsWith('application/json')));
    assert.ok(rx.services.includes('trace-test'));
  });

  test('a modern request\'s _meta.traceparent is the parent; the modern upstream gets it in header and _meta', async () => {
    const traceId = hex(32);
    const parent = hex(16);
    const m = await call('mod__echo', { text: 'hi' }, { meta: `00-${traceId}-${parent}-01` });
    assert.ok(m.result);
    const { hop } = checkShape(await traceOf(traceId), parent, 'mod');
    const sent = `00-${traceId}-${hop.spanId}-01`;
    assert.ok(mod.record.requests.some((r) => r.headers.traceparent === sent), 'header');
    const msgs = mod.record.messages.map((x) => x.msg as RpcMsg).filter((x) => x.method === 'tools/call');
    assert.ok(msgs.some((x) => (x.params?._meta as Record<string, unknown> | undefined)?.traceparent === sent), '_meta.traceparent');
  });

  test('a stdio upstream gets the hop traceparent in _meta', async () => {
    const traceId = hex(32);
    await call('local__echo', { text: 'hi' }, { header: `00-${traceId}-${hex(16)}-01` });
    const { hop } = checkShape(await traceOf(traceId), undefined, 'local');
    const stats = await call('local__mock_stats', {});
    const text = (stats.result?.content as { text: string }[])[0]!.text;
    const record = JSON.parse(text) as { messages: { msg: RpcMsg }[] };
    const sent = `00-${traceId}-${hop.spanId}-01`;
    assert.ok(record.messages.some((x) => x.msg.method === 'tools/call' && (x.msg.params?._meta as Record<string, unknown> | undefined)?.traceparent === sent));
  });

  test('no incoming trace context: a new trace; a refused call ends its spans at the stage that refused', async () => {
    const before = new Set(rx.spans.map((s) => s.spanId));
    const m = await call('nosuch__tool', {});
    assert.ok(m.error);
    await until(async () => {
      await gw.gateway.tracing!.flush();
      return rx.spans.some((s) => !before.has(s.spanId) && s.kind === SERVER && s.attributes.some((a) => a.key === 'portcullis.outcome' && a.value.stringValue === 'ERR_UNKNOWN_TOOL'));
    }, 'refused call span');
    const root = rx.spans.find((s) => !before.has(s.spanId) && s.kind === SERVER && s.attributes.some((a) => a.value.stringValue === 'ERR_UNKNOWN_TOOL'))!;
    assert.equal(root.parentSpanId ?? '', '');
    assert.equal(root.status?.code, 2);
    const kids = rx.spans.filter((s) => s.parentSpanId === root.spanId).map((s) => s.name);
    // authenticate ran, route refused: nothing after it.
    assert.deepEqual(kids.sort(), ['authenticate', 'route']);
  });
});

describe('tracing off', () => {
  test('the client\'s own traceparent still reaches the upstream unchanged', async () => {
    const plain = await startGateway(gatewayYaml([upstreamYaml('web', 'streamable-http', web.url)]));
    try {
      await plain.waitHealthy(['web']);
      assert.equal(plain.gateway.tracing, undefined);
      const tp = `00-${hex(32)}-${hex(16)}-01`;
      const saved = gw;
      gw = plain;
      try {
        await call('web__echo', { text: 'x' }, { header: tp });
      } finally {
        gw = saved;
      }
      assert.ok(web.record.requests.some((r) => r.headers.traceparent === tp));
      // An invalid one (version ff, an all-zero trace or span id) is not passed on.
      const invalid = [`ff-${hex(32)}-${hex(16)}-01`, `00-${'0'.repeat(32)}-${hex(16)}-01`, `00-${hex(32)}-${'0'.repeat(16)}-01`];
      gw = plain;
      try {
        for (const bad of invalid) await call('web__echo', { text: 'x' }, { header: bad });
      } finally {
        gw = saved;
      }
      for (const bad of invalid) assert.ok(!web.record.requests.some((r) => r.headers.traceparent === bad), bad);
    } finally {
      await plain.close();
    }
  });
});
