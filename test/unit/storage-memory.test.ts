/** Memory-backend limits that other backends do not share (their growth is bounded by prune). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openStore, RECENT_EVENTS_MAX } from '../../src/storage/index.js';

const T0 = Date.UTC(2026, 0, 1);

describe('memory upstreamEvents bound', () => {
  it(`keeps at most ${RECENT_EVENTS_MAX} events per upstream, dropping the oldest by time`, async () => {
    const store = await openStore({ kind: 'memory', dataDir: '' });
    try {
      for (let i = 0; i < RECENT_EVENTS_MAX + 5; i++) await store.upstreamEvents.append({ upstream: 'a', at: new Date(T0 + i), state: 'healthy' });
      // Older than everything kept: dropped at once rather than evicting a newer event.
      await store.upstreamEvents.append({ upstream: 'a', at: new Date(T0 - 1), state: 'stopped' });
      await store.upstreamEvents.append({ upstream: 'b', at: new Date(T0), state: 'stopped' });
      const got = await store.upstreamEvents.recent('a', RECENT_EVENTS_MAX);
      assert.equal(got.at(-1)!.at.getTime(), T0 + 5);
      assert.ok(got.every((e) => e.state === 'healthy'));
      assert.equal(await store.upstreamEvents.prune(new Date(T0 + 1_000_000)), RECENT_EVENTS_MAX + 1);
    } finally {
      await store.close();
    }
  });
});
