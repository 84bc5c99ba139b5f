/**
 * An upstream changed or removed by a hot reload finishes the calls it has in flight before it
 * stops; new calls go to its replacement at once.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { gatewayYaml, RawLegacySession, upstreamYaml } from './helpers-wire.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const textOf = (m: object | undefined): string => String((((m as { result?: unknown } | undefined)?.result as { content?: { text?: string }[] })?.content ?? [])[0]?.text ?? JSON.stringify(m));

describe('hot reload with calls in flight', () => {
  let gw: TestGateway;
  after(async () => {
    await gw?.close();
  });

  for (const change of ['changed', 'removed'] as const) {
    it(`an upstream ${change} by a reload lets its call in flight finish`, async () => {
      await gw?.close();
      gw = await startGateway(gatewayYaml([upstreamYaml('one', 'stdio'), upstreamYaml('two', 'stdio')]));
      await gw.waitHealthy(['one', 'two']);
      const s = await RawLegacySession.open(gw.mcp);
      // 8 steps of 200 ms: the reload lands in the middle of the call.
      const slow = s.request(1, 'tools/call', { name: 'one__slow', arguments: { steps: 8, ms: 200 } }, { deadlineMs: 20_000 });
      await sleep(500);
      gw.reload(gatewayYaml(change === 'changed' ? [upstreamYaml('one', 'stdio', undefined, ', tags: [edited]'), upstreamYaml('two', 'stdio')] : [upstreamYaml('two', 'stdio')]));
      const reply = (await slow).messages.find((m) => m.id === 1);
      assert.equal(textOf(reply), 'done after 8 steps', `the call in flight: ${JSON.stringify(reply)}`);
      if (change === 'changed') {
        await gw.waitHealthy(['one']);
        const r = (await s.request(2, 'tools/call', { name: 'one__echo', arguments: { text: 'after' } }, { deadlineMs: 20_000 })).messages.find((m) => m.id === 2);
        assert.equal(textOf(r), 'after', 'the replacement serves');
      }
    });
  }
});
