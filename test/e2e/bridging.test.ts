/**
 * Era bridging at the wire (mcp-protocol.md §2 and §9): the two client/server pairs that fail
 * when connected directly work through the gateway. A legacy client answers a modern upstream's
 * MRTR `input_required` through its ordinary sampling/elicitation handlers (the gateway asks on
 * the client's stream and retries upstream with the answers); a legacy upstream's server-to-client
 * request reaches a legacy client; a modern client answers a legacy upstream's sampling request
 * as MRTR through its own handler; and a client without the capability fails cleanly, never hangs.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CreateMessageRequestSchema, ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import type { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { startMockHttp, type MockHttp } from '../fixtures/mock-upstream/http-server.js';
import { firstText, gatewayYaml, legacyClient, modernClient, upstreamYaml } from './helpers-wire.js';

const ERR_CLIENT_CAPABILITY = -31105;

/** Rejects if `p` has not settled in `ms`: "fails cleanly" must also mean "does not hang". */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}

interface Asked {
  sampling: string[];
  elicitation: string[];
}

/** A v1 client that declares sampling and elicitation and records what it was asked. */
async function answeringLegacyClient(url: string): Promise<{ client: V1Client; asked: Asked }> {
  const asked: Asked = { sampling: [], elicitation: [] };
  const client = await legacyClient(url, { capabilities: { sampling: {}, elicitation: {} } });
  client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
    const c = req.params.messages[0]?.content as { text?: string } | undefined;
    asked.sampling.push(c?.text ?? '');
    return { model: 'test-model', role: 'assistant', content: { type: 'text', text: `sampled:${c?.text ?? ''}` } };
  });
  client.setRequestHandler(ElicitRequestSchema, async (req) => {
    asked.elicitation.push(req.params.message);
    return { action: 'accept', content: { answer: 'forty-two' } };
  });
  return { client, asked };
}

/** tools/call messages the mock received for one tool, in order. */
function callsOf(mock: MockHttp, tool: string): Record<string, unknown>[] {
  return mock.record.messages
    .map((m) => m.msg as { method?: string; params?: Record<string, unknown> })
    .filter((m) => m.method === 'tools/call' && m.params?.name === tool)
    .map((m) => m.params!);
}

describe('bridging: legacy client ↔ modern-only upstream', () => {
  let mock: MockHttp;
  let gw: TestGateway;
  const closers: (() => Promise<void>)[] = [];
  before(async () => {
    mock = await startMockHttp({ mode: 'modern' });
    gw = await startGateway(gatewayYaml([upstreamYaml('modern', 'streamable-http', mock.url)]));
    await gw.waitHealthy(['modern']);
  });
  after(async () => {
    await Promise.allSettled(closers.map((c) => c()));
    await gw?.close();
    await mock?.close();
  });

  it('a legacy client (fails directly) reaches the modern-only upstream', async () => {
    // Directly, the modern-only server refuses initialize with -32022: the pair fails.
    const direct = await fetch(mock.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }),
    });
    assert.equal(((await direct.json()) as { error?: { code: number } }).error?.code, -32022);

    const { client } = await answeringLegacyClient(gw.mcp);
    closers.push(() => client.close());
    assert.equal(firstText(await client.callTool({ name: 'modern__echo', arguments: { text: 'across eras' } })), 'across eras');
  });

  it("MRTR input_required is answered by the legacy client's sampling handler, then retried upstream", async () => {
    const { client, asked } = await answeringLegacyClient(gw.mcp);
    closers.push(() => client.close());
    const r = await within(client.callTool({ name: 'modern__sample', arguments: { prompt: 'bridge me' } }), 15_000, 'sample call');
    assert.equal(firstText(r), 'sampled:bridge me');
    assert.deepEqual(asked.sampling, ['bridge me'], 'the client saw exactly one legacy sampling/createMessage');

    const calls = callsOf(mock, 'sample');
    assert.equal(calls.length, 2, 'first attempt plus one retry');
    assert.equal(calls[0]!.inputResponses, undefined);
    const retry = calls[1]!;
    assert.equal(retry.requestState, 'mock-state-sample', 'requestState echoed byte-exact');
    const answer = (retry.inputResponses as Record<string, { content?: { text?: string } }>).sample;
    assert.equal(answer?.content?.text, 'sampled:bridge me');
    // A legacy client never sees MRTR vocabulary.
    assert.equal((r as { resultType?: unknown }).resultType, undefined);
  });

  it("MRTR elicitation is answered by the legacy client's elicitation handler", async () => {
    const { client, asked } = await answeringLegacyClient(gw.mcp);
    closers.push(() => client.close());
    const r = await within(client.callTool({ name: 'modern__elicit', arguments: { message: 'what is the answer?' } }), 15_000, 'elicit call');
    assert.deepEqual(asked.elicitation, ['what is the answer?']);
    assert.match(firstText(r), /forty-two/);
  });

  it('a legacy client without the sampling capability gets a clean error', async () => {
    const client = await legacyClient(gw.mcp);
    closers.push(() => client.close());
    const outcome = await within(
      client.callTool({ name: 'modern__sample', arguments: { prompt: 'nobody answers' } }).then(
        (r) => ({ ok: true as const, r }),
        (e: unknown) => ({ ok: false as const, e: e as { code?: number; message?: string } }),
      ),
      15_000,
      'sample call without capability',
    );
    assert.equal(outcome.ok, false, 'the call fails');
    if (!outcome.ok) assert.equal(outcome.e.code, ERR_CLIENT_CAPABILITY);
  });

  it('a modern client passes MRTR through to its own handler (same era both sides)', async () => {
    const client = await modernClient(gw.mcp, { capabilities: { sampling: {} } });
    closers.push(() => client.close());
    let asked = 0;
    client.setRequestHandler('sampling/createMessage', async () => {
      asked++;
      return { model: 'm', role: 'assistant', content: { type: 'text', text: 'modern answer' } };
    });
    const r = await within(client.callTool({ name: 'modern__sample', arguments: { prompt: 'p' } }), 15_000, 'modern sample');
    assert.equal(firstText(r), 'modern answer');
    assert.equal(asked, 1);
  });
});

for (const kind of ['streamable-http', 'sse'] as const) {
  describe(`bridging: legacy-only ${kind} upstream`, () => {
    let mock: MockHttp;
    let gw: TestGateway;
    const closers: (() => Promise<void>)[] = [];
    before(async () => {
      mock = await startMockHttp({ mode: kind === 'sse' ? 'sse' : 'legacy' });
      gw = await startGateway(gatewayYaml([upstreamYaml('old', kind, mock.url)]));
      await gw.waitHealthy(['old']);
    });
    after(async () => {
      await Promise.allSettled(closers.map((c) => c()));
      await gw?.close();
      await mock?.close();
    });

    it("the upstream's sampling/createMessage reaches a legacy client on its call's stream", async () => {
      const { client, asked } = await answeringLegacyClient(gw.mcp);
      closers.push(() => client.close());
      const r = await within(client.callTool({ name: 'old__sample', arguments: { prompt: 'legacy ask' } }), 15_000, 'legacy sample');
      assert.equal(firstText(r), 'sampled:legacy ask');
      assert.deepEqual(asked.sampling, ['legacy ask']);
    });

    it('a modern client (fails directly) reaches the legacy-only upstream, with caching hints filled in', async () => {
      if (kind === 'streamable-http') {
        // Directly, a client pinned to 2026-07-28 cannot talk to the legacy-only server.
        await assert.rejects(within(modernClient(mock.url), 15_000, 'direct modern connect'));
      }
      const client = await modernClient(gw.mcp);
      closers.push(() => client.close());
      assert.equal(firstText(await client.callTool({ name: 'old__echo', arguments: { text: 'forward' } })), 'forward');
      const read = (await client.readResource({ uri: 'mock://static' })) as { ttlMs?: number; cacheScope?: string };
      assert.equal(read.ttlMs, 0);
      assert.equal(read.cacheScope, 'private');
    });

    it("a legacy upstream's sampling request reaches a modern SDK client as MRTR, answered by its own handler", async () => {
      // The gateway parks the upstream request behind a sealed input_required (§9, third row);
      // the v2 client fulfils it through its ordinary handler and retries transparently.
      const client = await modernClient(gw.mcp, { capabilities: { sampling: {} } });
      closers.push(() => client.close());
      const asked: string[] = [];
      client.setRequestHandler('sampling/createMessage', async (req) => {
        const c = req.params.messages[0]?.content as { text?: string } | undefined;
        asked.push(c?.text ?? '');
        return { model: 'm', role: 'assistant', content: { type: 'text', text: `modern:${c?.text ?? ''}` } };
      });
      const r = await within(client.callTool({ name: 'old__sample', arguments: { prompt: 'parked' } }), 15_000, 'modern→legacy sample');
      assert.equal(firstText(r), 'modern:parked');
      assert.deepEqual(asked, ['parked']);
      // The upstream saw one call and one answer to its server-to-client request.
      assert.equal(callsOf(mock, 'sample').filter((p) => JSON.stringify(p).includes('parked')).length, 1);
    });

    it('a modern client without the sampling capability fails cleanly instead of hanging', async () => {
      const client = await modernClient(gw.mcp);
      closers.push(() => client.close());
      const outcome = await within(
        client.callTool({ name: 'old__sample', arguments: { prompt: 'no capability' } }).then(
          (r) => ({ ok: true as const, r: r as { isError?: boolean } }),
          (e: unknown) => ({ ok: false as const, e }),
        ),
        15_000,
        'modern→legacy sample without capability',
      );
      // Either a JSON-RPC error or the upstream's tool error for the refused request: never a result.
      if (outcome.ok) assert.equal(outcome.r.isError, true, JSON.stringify(outcome.r));
      const answers = mock.record.messages
        .map((m) => m.msg as { id?: unknown; method?: string; error?: { code: number } })
        .filter((m) => m.method === undefined && typeof m.id === 'string' && m.id.startsWith('srv-'));
      if (outcome.ok) assert.equal(answers.at(-1)?.error?.code, ERR_CLIENT_CAPABILITY, 'the upstream was told the client cannot sample');
    });
  });
}
