/**
 * A hostile upstream costs one call, never the process: hanging, drip-feeding, oversized,
 * invalid and cut responses all end as error outcomes within the configured deadlines, and the
 * link keeps serving the next call.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHostile, type HostileServer } from '../fixtures/mock-upstream/hostile.js';
import { openLegacyHttpLink, type LegacyHttpLink } from '../../src/upstreams/streamable-http/legacy-link.js';
import type { CallOutcome } from '../../src/mcp/jsonrpc.js';

let hostile: HostileServer;
let link: LegacyHttpLink;

before(async () => {
  hostile = await startHostile();
  link = await openLegacyHttpLink({
    name: 'hostile',
    url: hostile.url,
    headers: {},
    maxMessageBytes: 1024 * 1024,
    timeouts: { connectMs: 2_000, firstByteMs: 800, totalMs: 1_500 },
  });
});
after(async () => {
  await link?.close();
  await hostile?.close();
});

const call = (name: string): Promise<CallOutcome> =>
  link.call('tools/call', { name, arguments: {} }, { sink: { notify: () => {}, request: async () => ({ result: {} }) }, signal: new AbortController().signal });

const codeOf = (o: CallOutcome): string => {
  assert.ok('error' in o, `expected an error outcome, got ${JSON.stringify(o).slice(0, 200)}`);
  return (o.error.data as { portcullis: string }).portcullis;
};

describe('hostile upstream', () => {
  it('hang: first-byte deadline, and the upstream is told to stop', async () => {
    assert.equal(codeOf(await call('hang')), 'ERR_UPSTREAM_TIMEOUT');
  });

  it('drip-feed: the total deadline ends the call', async () => {
    assert.equal(codeOf(await call('drip')), 'ERR_UPSTREAM_TIMEOUT');
  });

  it('10 MB JSON body: refused at maxMessageBytes', async () => {
    assert.equal(codeOf(await call('huge')), 'ERR_UPSTREAM_PROTOCOL');
  });

  it('10 MB SSE event: refused at maxMessageBytes', async () => {
    assert.equal(codeOf(await call('huge_sse')), 'ERR_UPSTREAM_PROTOCOL');
  });

  it('invalid JSON and non-JSON-RPC bodies', async () => {
    assert.equal(codeOf(await call('invalid')), 'ERR_UPSTREAM_PROTOCOL');
    assert.equal(codeOf(await call('not_rpc')), 'ERR_UPSTREAM_PROTOCOL');
  });

  it('SSE cut mid-event without event ids: the call fails, nothing hangs', async () => {
    assert.equal(codeOf(await call('midsse')), 'ERR_UPSTREAM_CLOSED');
  });

  it('all of them at once, then a normal call still works on the same link', async () => {
    const outcomes = await Promise.all(['hang', 'drip', 'huge', 'huge_sse', 'invalid', 'midsse'].map(call));
    for (const o of outcomes) assert.ok('error' in o);
    assert.equal(link.closed, false);
    assert.equal(link.inFlight, 0);
    const ok = await call('anything');
    assert.ok('result' in ok);
    assert.ok(hostile.seen.includes('cancelled'), 'timed-out calls are cancelled upstream');
  });
});
