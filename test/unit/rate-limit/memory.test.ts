import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryCounters } from '../../../src/ratelimit/memory.js';
import type { CompiledRule } from '../../../src/stages/rate-limit/compile.js';

const rule = (name: string, o: Partial<CompiledRule>): CompiledRule => ({ name, id: name, by: [], methods: new Set(['tools/call']), ...o });

function counters(): { c: MemoryCounters; clock: { t: number } } {
  const clock = { t: 1_000_000 };
  const c = new MemoryCounters(() => clock.t);
  return { c, clock };
}

test('token bucket: capacity at once, then the sustained rate; retryAfterMs says when the next token lands', async () => {
  const { c, clock } = counters();
  const r = rule('r', { rate: { capacity: 3, msPerToken: 100 } }); // 10/s, burst 3
  for (let i = 0; i < 3; i++) assert.equal(c.take([r], ['k'], 1), undefined);
  assert.deepEqual(c.take([r], ['k'], 1), { kind: 'rate', rule: 'r', retryAfterMs: 100 });
  clock.t += 40;
  assert.equal(c.take([r], ['k'], 1)?.retryAfterMs, 60);
  clock.t += 60;
  assert.equal(c.take([r], ['k'], 1), undefined);
  // Over 10 s at twice the rate (one call per 50 ms), 100 more are accepted: exactly the rate.
  let accepted = 0;
  for (let i = 0; i < 200; i++) {
    clock.t += 50;
    if (c.take([r], ['k'], 1) === undefined) accepted++;
  }
  assert.equal(accepted, 100);
  await c.close();
});

test('keys are independent buckets', async () => {
  const { c } = counters();
  const r = rule('r', { rate: { capacity: 1, msPerToken: 1000 } });
  assert.equal(c.take([r], ['a'], 1), undefined);
  assert.ok(c.take([r], ['a'], 1));
  assert.equal(c.take([r], ['b'], 1), undefined);
  await c.close();
});

test('cost weights: a call takes `cost` tokens; a call dearer than the bucket passes only when it is full and leaves debt', async () => {
  const { c, clock } = counters();
  const r = rule('r', { rate: { capacity: 10, msPerToken: 100 } });
  assert.equal(c.take([r], ['k'], 5), undefined);
  assert.equal(c.take([r], ['k'], 5), undefined);
  assert.deepEqual(c.take([r], ['k'], 5), { kind: 'rate', rule: 'r', retryAfterMs: 500 });
  clock.t += 1000; // full again
  assert.equal(c.take([r], ['k'], 25), undefined, 'dearer than the bucket: allowed when full');
  // 15 tokens of debt plus 1 needed: 1.6 s.
  assert.equal(c.take([r], ['k'], 1)?.retryAfterMs, 1600);
  await c.close();
});

test('quota: fixed windows aligned to the epoch; the refusal waits for the window end; costs count', async () => {
  const { c, clock } = counters();
  clock.t = 86_400_000 * 100 + 3_600_000; // 01:00 UTC on some day
  const q = rule('daily', { quota: { limit: 5, windowMs: 86_400_000 } });
  assert.equal(c.take([q], ['t'], 3), undefined);
  assert.equal(c.take([q], ['t'], 2), undefined);
  assert.deepEqual(c.take([q], ['t'], 1), { kind: 'quota', rule: 'daily', retryAfterMs: 23 * 3_600_000 });
  clock.t = 86_400_000 * 101; // midnight: a new window
  assert.equal(c.take([q], ['t'], 5), undefined);
  assert.ok(c.take([q], ['t'], 1));
  await c.close();
});

test('all or nothing across rules: a refusal by one rule takes nothing from the others; quota outranks rate', async () => {
  const { c } = counters();
  const rate = rule('rate', { rate: { capacity: 2, msPerToken: 1000 } });
  const quota = rule('quota', { quota: { limit: 1, windowMs: 60_000 } });
  assert.equal(c.take([rate, quota], ['a', 'b'], 1), undefined);
  for (let i = 0; i < 3; i++) assert.equal(c.take([rate, quota], ['a', 'b'], 1)?.kind, 'quota');
  // The refused calls left the rate bucket with its one remaining token.
  assert.equal(c.take([rate], ['a'], 1), undefined);
  assert.equal(c.take([rate], ['a'], 1)?.kind, 'rate');
  await c.close();
});

test('sweep forgets full buckets and ended windows only', async () => {
  const { c, clock } = counters();
  const r = rule('r', { rate: { capacity: 2, msPerToken: 100 } });
  const q = rule('q', { quota: { limit: 9, windowMs: 1000 } });
  c.take([r, q], ['a', 'a'], 1);
  c.take([r], ['b'], 2);
  clock.t += 100; // a is full again, b is not; the quota window may still run
  c.sweep();
  assert.deepEqual([...c.buckets.keys()], ['b']);
  clock.t += 1000;
  c.sweep();
  assert.equal(c.buckets.size, 0);
  assert.equal(c.windows.size, 0);
  await c.close();
});
