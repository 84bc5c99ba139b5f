/** The authorization server's outbound fetch guard (CIMD): https only, no special-use addresses. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { EgressDeniedError, addressAllowed, createGuardedFetch, isSpecialUseAddress } from '../../../src/auth/server/egress.js';

test('classifies special-use addresses', () => {
  const special = ['127.0.0.1', '127.255.0.9', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255', '198.18.0.1', '::1', '::', 'fe80::1', 'fc00::1', 'fd12::1', 'ff02::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', '::ffff:7f00:1', '64:ff9b::a00:1', '2001:db8::1', 'not-an-ip', ''];
  for (const a of special) assert.equal(isSpecialUseAddress(a), true, a);
  const pub = ['8.8.8.8', '1.1.1.1', '172.32.0.1', '192.169.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8', '[2606:4700::1]'];
  for (const a of pub) assert.equal(isSpecialUseAddress(a), false, a);
});

test('loopback is allowed only when asked, private ranges never', () => {
  assert.equal(addressAllowed('127.0.0.1', false), false);
  assert.equal(addressAllowed('127.0.0.1', true), true);
  assert.equal(addressAllowed('::1', true), true);
  assert.equal(addressAllowed('::ffff:127.0.0.1', true), true);
  for (const a of ['10.0.0.1', '192.168.0.1', '169.254.169.254', 'fe80::1', 'fc00::1']) assert.equal(addressAllowed(a, true), false, a);
  assert.equal(addressAllowed('8.8.8.8', false), true);
});

async function withCanary(fn: (port: number, connections: () => number) => Promise<void>): Promise<void> {
  let n = 0;
  const srv = createServer((s) => {
    n += 1;
    s.destroy();
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  try {
    await fn((srv.address() as { port: number }).port, () => n);
  } finally {
    await new Promise<void>((r) => srv.close(() => r()));
  }
}

test('refuses http, credentials, loopback literals and names that resolve to loopback, without connecting', () =>
  withCanary(async (port, connections) => {
    const g = createGuardedFetch({ allowLoopback: false });
    try {
      for (const url of [`http://127.0.0.1:${port}/x`, `https://user:pw@127.0.0.1:${port}/x`, `https://127.0.0.1:${port}/x`, `https://[::ffff:127.0.0.1]:${port}/x`]) {
        await assert.rejects(g.fetch(url, { signal: AbortSignal.timeout(3000) }), EgressDeniedError, url);
      }
      // A host name is judged after resolution, inside the connector: the fetch fails before connecting.
      await assert.rejects(g.fetch(`https://localhost:${port}/x`, { signal: AbortSignal.timeout(3000) }), (e: Error) => {
        const chain = `${e.message} ${(e.cause as Error | undefined)?.message ?? ''}`;
        return /non-public address/.test(chain);
      });
      assert.equal(connections(), 0);
    } finally {
      await g.close();
    }
  }));

test('with allowLoopback, loopback is reached (and private literals are still refused)', () =>
  withCanary(async (port, connections) => {
    const g = createGuardedFetch({ allowLoopback: true });
    try {
      await assert.rejects(g.fetch(`https://127.0.0.1:${port}/x`, { signal: AbortSignal.timeout(3000) }));
      assert.equal(connections(), 1, 'the connection was attempted (TLS then fails against the canary)');
      await assert.rejects(g.fetch('https://10.0.0.1/x', { signal: AbortSignal.timeout(3000) }), EgressDeniedError);
      await assert.rejects(g.fetch('https://169.254.169.254/x', { signal: AbortSignal.timeout(3000) }), EgressDeniedError);
    } finally {
      await g.close();
    }
  }));
