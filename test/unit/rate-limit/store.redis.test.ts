/**
 * The Redis counter store against a real Redis (PORTCULLIS_TEST_REDIS_URL): the same semantics
 * as the memory store — buckets, costs and debt, epoch-aligned quotas, all-or-nothing across
 * rules — with a unique key prefix per run, deleted afterwards.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { silentLogger } from '../../../src/observability/logger.js';
import { RedisCounters } from '../../../src/ratelimit/redis.js';
import type { CompiledRule } from '../../../src/stages/rate-limit/compile.js';

const URL = process.env.PORTCULLIS_TEST_REDIS_URL;
const PREFIX = `pcl:rl:unit:${randomBytes(6).toString('hex')}:`;
const rule = (name: string, o: Partial<CompiledRule>): CompiledRule => ({ name, id: name, by: [], methods: new Set(['tools/call']), ...o });

describe('RedisCounters', { skip: URL === undefined ? 'PORTCULLIS_TEST_REDIS_URL is not set' : false }, () => {
  let store: RedisCounters;
  let admin: Redis;
  before(() => {
    store = new RedisCounters({ url: URL!, keyPrefix: PREFIX, timeoutMs: 2000, onUnavailable: 'deny' }, silentLogger);
    admin = new Redis(URL!, { maxRetriesPerRequest: 1 });
  });
  after(async () => {
    const keys = await admin.keys(`${PREFIX}*`);
    if (keys.length > 0) await admin.del(...keys);
    await admin.quit();
    await store.close();
  });

  it('bucket: capacity at once, then refusals with a retry time; keys expire once full again', async () => {
    const r = rule('r', { rate: { capacity: 3, msPerToken: 60_000 } });
    for (let i = 0; i < 3; i++) assert.equal(await store.take([r], [`${PREFIX}a`], 1), undefined);
    const v = await store.take([r], [`${PREFIX}a`], 1);
    assert.ok(v && v !== 'unavailable');
    assert.equal(v.kind, 'rate');
    assert.equal(v.rule, 'r');
    assert.ok(v.retryAfterMs > 59_000 && v.retryAfterMs <= 60_000, String(v.retryAfterMs));
    const ttl = await admin.pttl(`${PREFIX}a`);
    assert.ok(ttl > 170_000 && ttl <= 181_000, String(ttl));
  });

  it('costs and debt: a call dearer than the bucket passes when full and leaves debt', async () => {
    const r = rule('r', { rate: { capacity: 2, msPerToken: 60_000 } });
    assert.equal(await store.take([r], [`${PREFIX}b`], 5), undefined);
    const v = await store.take([r], [`${PREFIX}b`], 1);
    assert.ok(v && v !== 'unavailable' && v.retryAfterMs > 3.9 * 60_000, JSON.stringify(v));
  });

  it('quota: counts costs, refuses until the window ends, and outranks a rate refusal; refusals take nothing', async () => {
    const q = rule('q', { quota: { limit: 3, windowMs: 86_400_000 } });
    const r = rule('r', { rate: { capacity: 10, msPerToken: 1000 } });
    assert.equal(await store.take([r, q], [`${PREFIX}c1`, `${PREFIX}c2`], 2), undefined);
    const v = await store.take([r, q], [`${PREFIX}c1`, `${PREFIX}c2`], 2);
    assert.ok(v && v !== 'unavailable');
    assert.equal(v.kind, 'quota');
    const untilMidnight = 86_400_000 - (Date.now() % 86_400_000);
    assert.ok(Math.abs(v.retryAfterMs - untilMidnight) < 60_000);
    assert.equal(await store.take([r, q], [`${PREFIX}c1`, `${PREFIX}c2`], 1), undefined, 'the refused call used none of the quota');
    const tokens = Number(await admin.hget(`${PREFIX}c1`, 't'));
    assert.ok(tokens > 6.9 && tokens < 7.2, `bucket holds ${tokens}: only accepted calls took tokens`);
  });

  it('an unreachable Redis answers "unavailable" within the timeout', async () => {
    const dead = new RedisCounters({ url: 'redis://127.0.0.1:1', keyPrefix: PREFIX, timeoutMs: 150, onUnavailable: 'deny' }, silentLogger);
    try {
      assert.equal(await dead.take([rule('r', { rate: { capacity: 1, msPerToken: 1 } })], [`${PREFIX}d`], 1), 'unavailable');
    } finally {
      await dead.close();
    }
  });
});
