/**
 * An upstream changed or removed by a hot reload finishes the calls it has in flight before it
 * stops; new calls go to its replacement at once. Only an edit to a field that defines the link
 * (command, args, env, url, credentials, …) replaces the upstream; an edit to a setting of how
 * the gateway treats calls (timeouts, resilience, naming, recycling) applies to the running
 * upstream, whose process keeps running.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { liveChildPids } from '../../src/upstreams/children.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { startMockHttp, type MockHttp } from '../fixtures/mock-upstream/http-server.js';
import { cmdline, runningPid, until } from '../helpers/procs.js';
import { gatewayYaml, RawLegacySession, upstreamYaml, type RpcMsg } from './helpers-wire.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const textOf = (m: object | undefined): string => String((((m as { result?: unknown } | undefined)?.result as { content?: { text?: string }[] })?.content ?? [])[0]?.text ?? JSON.stringify(m));

/** The running stdio child whose command line carries `marker` (each test labels its upstream). */
const childWith = (marker: string): number[] => liveChildPids().filter((p) => runningPid(p) && cmdline(p).includes(marker));

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
      // An env edit is a connection change: the upstream is replaced (a tags edit would apply in place).
      gw.reload(gatewayYaml(change === 'changed' ? [upstreamYaml('one', 'stdio', undefined, ', env: { EDITED: "1" }'), upstreamYaml('two', 'stdio')] : [upstreamYaml('two', 'stdio')]));
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

describe('hot reload: in place or replaced', () => {
  let gw: TestGateway | undefined;
  after(async () => {
    await gw?.close();
  });

  /** A gateway logging at info into `logs`, with one stdio upstream `one` labelled `marker` on its command line. */
  async function start(marker: string, logs: Record<string, unknown>[]): Promise<{ gw: TestGateway; up: (extra?: string, args?: string[]) => string; pid: number }> {
    await gw?.close();
    const logTo = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const line of chunk.toString().split('\n')) {
          try {
            if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
          } catch {
            /* not JSON */
          }
        }
        cb();
      },
    });
    const up = (extra = '', args: string[] = []): string => upstreamYaml('one', 'stdio', undefined, extra, ['--label', marker, ...args]);
    const yaml = (upstream: string): string => gatewayYaml([upstream]).replace('log: { level: silent }', 'log: { level: info }');
    gw = await startGateway(yaml(up()), process.env, { logTo, logLevel: 'info' });
    await gw.waitHealthy(['one']);
    const pids = await until('the child of one', () => (childWith(marker).length ? childWith(marker) : undefined));
    assert.equal(pids.length, 1, `one child labelled ${marker}`);
    const g = gw;
    return {
      gw: { ...g, reload: (next: string) => g.reload(next.replace('log: { level: silent }', 'log: { level: info }')) },
      up,
      pid: pids[0]!,
    };
  }

  const reloadLogs = (logs: Record<string, unknown>[]): string[] =>
    logs.filter((l) => l.upstream === 'one' && (l.msg === 'upstream.updated' || l.msg === 'upstream.stopping')).map((l) => `${String(l.msg)}${l.reason ? `:${String(l.reason)}` : ''}`);

  it('a timeout edit applies in place: the same process, and the new deadline governs the next call', async () => {
    const marker = `reload-inplace-${process.pid}-${Date.now()}`;
    const logs: Record<string, unknown>[] = [];
    const { gw: g, up, pid } = await start(marker, logs);
    const s = await RawLegacySession.open(g.mcp);
    const slow = async (id: number): Promise<RpcMsg | undefined> =>
      (await s.request(id, 'tools/call', { name: 'one__slow', arguments: { steps: 3, ms: 300 } }, { deadlineMs: 20_000 })).messages.find((m) => m.id === id);
    assert.equal(textOf(await slow(1)), 'done after 3 steps', 'under the default 60 s deadline the 900 ms call finishes');

    g.reload(gatewayYaml([up(', timeouts: { total: 400ms }')]));
    const r = await slow(2);
    assert.equal((r?.error?.data as { portcullis?: string } | undefined)?.portcullis, 'ERR_UPSTREAM_TIMEOUT', `the new 400 ms deadline fires: ${JSON.stringify(r)}`);
    assert.deepEqual(childWith(marker), [pid], 'the same process serves');
    assert.ok(runningPid(pid));
    const e = (await s.request(3, 'tools/call', { name: 'one__echo', arguments: { text: 'still here' } }, { deadlineMs: 20_000 })).messages.find((m) => m.id === 3);
    assert.equal(textOf(e), 'still here');

    // And back: a longer deadline no longer fires, still on the same process.
    g.reload(gatewayYaml([up(', timeouts: { total: 5s }')]));
    assert.equal(textOf(await slow(4)), 'done after 3 steps', 'the 5 s deadline lets the call finish');
    assert.deepEqual(childWith(marker), [pid], 'still the same process');
    assert.deepEqual(reloadLogs(logs), ['upstream.updated', 'upstream.updated']);
  });

  for (const field of ['args', 'env'] as const) {
    it(`an ${field} edit replaces the process`, async () => {
      const marker = `reload-replace-${field}-${process.pid}-${Date.now()}`;
      const logs: Record<string, unknown>[] = [];
      const { gw: g, up, pid } = await start(marker, logs);
      g.reload(gatewayYaml([field === 'args' ? up('', ['--mode', 'dual']) : up(', env: { EDITED: "1" }')]));
      const next = await until('a new child', () => childWith(marker).find((p) => p !== pid));
      await until('the old child to exit', () => (runningPid(pid) ? undefined : true));
      assert.notEqual(next, pid);
      await g.waitHealthy(['one']);
      const s = await RawLegacySession.open(g.mcp);
      const e = (await s.request(1, 'tools/call', { name: 'one__echo', arguments: { text: 'replaced' } }, { deadlineMs: 20_000 })).messages.find((m) => m.id === 1);
      assert.equal(textOf(e), 'replaced');
      assert.deepEqual(childWith(marker), [next]);
      assert.deepEqual(reloadLogs(logs), ['upstream.stopping:changed']);
    });
  }
});

describe('hot reload: the gateway-wide upstream message limit', () => {
  let gw: TestGateway | undefined;
  let mock: MockHttp | undefined;
  after(async () => {
    await gw?.close();
    await mock?.close();
  });

  it('a new limits.maxUpstreamMessageBytes reaches a running HTTP upstream (it is replaced)', async () => {
    mock = await startMockHttp({ mode: 'legacy' });
    const yaml = (limit: string): string => gatewayYaml([upstreamYaml('web', 'streamable-http', mock!.url)]).replace('gateway: { storage: memory }', `gateway: { storage: memory, limits: { maxUpstreamMessageBytes: ${limit} } }`);
    gw = await startGateway(yaml('16mb'));
    await gw.waitHealthy(['web']);
    const s = await RawLegacySession.open(gw.mcp);
    const big = async (id: number): Promise<RpcMsg | undefined> =>
      (await s.request(id, 'tools/call', { name: 'web__big', arguments: { kb: 64 } }, { deadlineMs: 20_000 })).messages.find((m) => m.id === id);
    assert.equal(textOf(await big(1)).length, 64 * 1024, 'under 16 MB the 64 KB result passes');
    gw.reload(yaml('32kb'));
    await gw.waitHealthy(['web']);
    // The replacement may still be starting: a refusal for "unavailable" is retried, only the size verdict counts.
    const r = await until('a verdict under the new limit', async () => {
      const m = await big(Date.now());
      const code = (m?.error?.data as { portcullis?: string } | undefined)?.portcullis;
      return code === 'ERR_UNKNOWN_TOOL' || code === 'ERR_UPSTREAM_UNAVAILABLE' ? undefined : m;
    });
    assert.ok(r?.error !== undefined, `over 32 KB the result is refused: ${JSON.stringify(r).slice(0, 300)}`);
    assert.equal(textOf(await s.request(99, 'tools/call', { name: 'web__echo', arguments: { text: 'small' } }, { deadlineMs: 20_000 }).then((x) => x.messages.find((m) => m.id === 99))), 'small');
  });
});
